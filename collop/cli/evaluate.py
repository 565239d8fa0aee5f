"""``collop evaluate``: the test metrics of any operator file on any data file."""
from __future__ import annotations

from ._common import EXIT_OK, names, out_file

__all__ = ["add_parser", "cmd_evaluate"]


def add_parser(sub, common) -> None:
    ev = sub.add_parser("evaluate", parents=[common], help="rollout error of an operator file",
                        description="Test metrics of an operator file (any registered family) on a data "
                                    "file, scored by the family's objective (for grid operators the "
                                    "rollout error); prints JSON.")
    ev.add_argument("--operator", required=True, metavar="OP.nc")
    ev.add_argument("--data", required=True, metavar="DATA.nc")
    ev.add_argument("--populations", default=None, metavar="C,D,..", help="default: all")
    ev.add_argument("--out", default=None, metavar="FILE", help="also write the JSON here")
    ev.add_argument("--integrator", default=None, choices=["euler", "rkl2"],
                    help="time integrator of the rollout (default: the one recorded in the operator file)")
    ev.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from ..io import atomic_write_text, open_dataset
    from ..pipeline import evaluate_file
    from ..runs import to_json

    out = out_file(args.out) if args.out else None
    pops = names(args.populations) if args.populations else "all"
    result = evaluate_file(args.operator, args.data, pops, integrator=args.integrator)
    method = open_dataset(args.operator, "operator", check_values=False).attrs.get("method")
    result = {**result, "method": method, "operator": str(args.operator), "data": str(args.data),
              "test": list(result.get("per_population", {}))}
    text = to_json(result, indent=2)
    print(text)
    if out is not None:
        atomic_write_text(out, text + "\n")
    return EXIT_OK
