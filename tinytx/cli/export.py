"""`tinytx export RUN --format onnx|hf -o OUT` and `tinytx import hf DIR -o RUN`. Argument parsing only: the work
is in tinytx.export (imported when the command runs; it needs the optional extras)."""
from __future__ import annotations

FORMATS = ("onnx", "hf")


def register(cli) -> None:
    p = cli.top.add_parser("export", help="export a run: ONNX graph(s) or a Hugging Face GPT-2 directory")
    p.add_argument("run", help="run directory")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx (needs tinytx[onnx]) or hf (gpt runs; "
                                                                     "needs tinytx[hf])")
    p.add_argument("-o", "--out", required=True, help="output file (onnx) or directory (hf)")
    p.set_defaults(func=export_command)

    i = cli.top.add_parser("import", help="turn a local Hugging Face GPT-2 directory into a tinytx run")
    i.add_argument("format", choices=("hf",), help="the source layout")
    i.add_argument("source", help="a directory saved with save_pretrained (nothing is downloaded)")
    i.add_argument("-o", "--out", required=True, help="the run directory to create")
    i.set_defaults(func=import_command)


def export_command(args) -> None:
    if args.format == "onnx":
        from ..export.onnx import export_onnx

        for line in export_onnx(args.run, args.out):
            print(line)
    else:
        from ..export.hf import export_hf

        for line in export_hf(args.run, args.out):
            print(line)


def import_command(args) -> None:
    from ..export.hf import import_hf

    print(import_hf(args.source, args.out))
