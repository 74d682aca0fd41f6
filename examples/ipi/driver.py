"""Serve se3t_calc energies and forces to i-PI over a socket (ASE's i-PI client).

Start i-PI first (it opens the socket), then one or more drivers:

    i-pi examples/ipi/input.xml &
    python examples/ipi/driver.py --model rmd17-ethanol --socket se3t-ethanol

Each driver answers i-PI's requests (one bead at a time) until i-PI ends the run.
``--structure`` only gives the elements and their order, which must be those of i-PI's
input; the positions and cell come from i-PI at each request.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ase.calculators.socketio import SocketClient
from ase.io import read

from se3t_calc import SE3TCalculator

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rmd17-ethanol", help="shipped model name or model file")
    parser.add_argument("--structure", default=str(HERE.parent / "structures" / "ethanol.xyz"))
    parser.add_argument("--socket", default="se3t-ethanol", help="UNIX socket name (i-PI's <address>)")
    parser.add_argument("--host", help="connect over TCP to this host instead of a UNIX socket")
    parser.add_argument("--port", type=int, default=31415, help="TCP port, with --host")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--stress", action="store_true", help="also send the virial (periodic cells)")
    args = parser.parse_args(argv)
    atoms = read(args.structure)
    atoms.calc = SE3TCalculator(args.model, device=args.device, dtype=args.dtype)
    if args.host:
        client = SocketClient(host=args.host, port=args.port)
    else:
        client = SocketClient(unixsocket=args.socket)
    client.run(atoms, use_stress=args.stress)


if __name__ == "__main__":
    main()
