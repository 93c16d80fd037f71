"""The markdown table every bench_*.py script prints (run the scripts from anywhere: scripts/ is on sys.path)."""


def table(headers, rows):
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print(flush=True)
