"""`tinytx generate` and `tinytx demo`. Argument parsing only: the work is in tinytx.generate and
tinytx.recipes.lm (imported when the command runs, so the parser loads no torch)."""
from __future__ import annotations

import sys


def register(cli) -> None:
    g = cli.top.add_parser("generate", help="generate text from a language-model run")
    g.add_argument("run", help="run directory")
    g.add_argument("--prompt", default="", help="text to continue (default: a newline)")
    g.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate")
    g.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    g.add_argument("--top-k", type=int, default=None, help="sample from the k most likely tokens")
    g.add_argument("--top-p", type=float, default=None, help="sample from the smallest set with this much probability")
    g.add_argument("--seed", type=int, default=None, help="same seed -> same text")
    g.add_argument("--num-samples", type=int, default=1,
                   help="samples to generate, each under a '--- sample i/N (seed S) ---' line; sample i uses seed "
                        "--seed + i - 1, so the same --seed gives the same samples")
    g.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    g.add_argument("--unknown", default="error", choices=["error", "unk"],
                   help="prompt characters the tokenizer does not know: error, or replace with [UNK]")
    g.add_argument("--no-cache", action="store_true", help="recompute the whole context every step (slow)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    g.set_defaults(func=generate_command)

    demo = cli.top.add_parser("demo", help="train a small char-level GPT on Shakespeare (~2 min on CPU) and sample")
    demo.add_argument("--minutes", type=float, default=2.0, help="training time budget (the schedule is sized to it)")
    demo.add_argument("--max-steps", type=int, default=None, help="fixed number of steps instead of --minutes")
    demo.add_argument("--out", "-o", default="runs/demo", help="run directory (only a demo run is ever replaced)")
    demo.add_argument("--data", default=None, help="text file (default data/tinyshakespeare/input.txt)")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    demo.add_argument("--prompt", default="ROMEO:", help="text the sample continues")
    demo.add_argument("--max-new-tokens", type=int, default=300, help="length of the sample")
    demo.add_argument("--seed", type=int, default=1337, help="random seed")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=demo_command)


def generate_command(args) -> None:
    from ..engine import pick_device
    from ..generate import generate_text, sample_seeds
    from ..rundir import load_run

    # one seed per sample (checked before the run is loaded); a single sample keeps --seed as it is
    seeds = [args.seed] if args.num_samples == 1 else sample_seeds(args.seed, args.num_samples)
    run = load_run(args.run, device=str(pick_device(args.device)), task="lm")

    def write(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    for i, seed in enumerate(seeds, start=1):
        if len(seeds) > 1:
            write(f"--- sample {i}/{len(seeds)} (seed {seed}) ---\n")
        if args.stream:
            write(args.prompt)
        text = generate_text(run, args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                             top_k=args.top_k, top_p=args.top_p, seed=seed,
                             stream_callback=write if args.stream else None, unknown=args.unknown,
                             use_cache=not args.no_cache)
        write("\n" if args.stream else text + "\n")


def demo_command(args) -> None:
    from ..errors import Interrupted, TinytxError
    from ..recipes.lm import demo

    if args.max_new_tokens < 0:  # before the training, not after it
        raise TinytxError(f"--max-new-tokens must be >= 0, got {args.max_new_tokens}")
    result = demo(out=args.out, minutes=args.minutes, max_steps=args.max_steps, data=args.data, device=args.device,
                  progress=not args.no_progress, prompt=args.prompt, new_tokens=args.max_new_tokens, seed=args.seed)
    if result.get("interrupted"):
        raise Interrupted(result["interrupted"], f"{result['stopped']} (run {args.out})")
