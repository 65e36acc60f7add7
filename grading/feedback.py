"""After a batch: one Markdown file per submission to return to its student, and the class report for the
instructor (``python -m grading grade --feedback DIR --report FILE``, or ``python -m grading report
RESULTS.json`` over an existing ``--json``).

Both read only the points, the feedback lines and the likely mistakes of each part, never the ``diff``
(reference code). The report is one HTML file that opens offline: plots are PNGs from matplotlib's Agg
renderer embedded as data URIs, the style sheet is inline, nothing is fetched.
"""
import argparse
import base64
import html
import io
import re
import sys
from collections import Counter
from pathlib import Path

from .report import _atomic_write, read_json, total_text
from .rubric import MAX_POINTS, RUBRIC, TOTAL_POINTS

NO_KNOWN_MISTAKE = "no known mistake matched"


def _fence(lines):
    """``lines`` in a fenced block longer than any backtick run in them, so a student's printed output
    cannot end the block and turn into Markdown."""
    text = "\n".join(lines)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def student_markdown(name, entry):
    """The feedback for one submission: its total, a table of points per part, then each part's feedback
    (the failing case, the first mismatch) and its likely mistakes."""
    lines = [f"# Exercise 9.3: feedback for {name}", "", f"**{total_text(entry)}**"]
    if entry.get("seed") is not None:
        lines[-1] += f" (random checks drawn with seed {entry['seed']})"
    lines += ["", "| part | what | points |", "|---|---|---|"]
    for part, spec in RUBRIC.items():
        info = entry["parts"][part]
        functions = ", ".join(f"`{q}`" for q in spec.functions)
        lines.append(f"| {part} | {spec.title}: {functions} | {info['points']:g}/{spec.points} |")
    for part, spec in RUBRIC.items():
        info = entry["parts"][part]
        lines += ["", f"## {part} {spec.title}: {info['points']:g}/{spec.points}", ""]
        lines.append(_fence(info["feedback"] or ["(no feedback)"]))  # its last lines name the likely mistakes
    return "\n".join(lines) + "\n"


def feedback_name(name):
    """The file name for submission ``name``: its key, made safe to write (no separators, not hidden)."""
    safe = re.sub(r"[^\w.@+-]", "_", name).lstrip(".") or "_"
    return safe + ".md"


def write_feedback(folder, results):
    """One Markdown file per submission in ``folder`` (created if missing); returns {name: path}."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    paths = {}
    for name, entry in results.items():
        path = folder / feedback_name(name)
        if path in paths.values():
            raise ValueError(f"two submissions would share the feedback file {path.name}: rename one folder")
        paths[name] = path
    for name, path in paths.items():
        _atomic_write(path, student_markdown(name, results[name]))
    return paths


# ---------------------------------------------------------------------------------------------------
# The class report
# ---------------------------------------------------------------------------------------------------

def summary(results):
    """The report's numbers: {"n", "totals": Counter of total points, "passed": {part: count},
    "mistakes": {part: Counter of likely mistakes among the submissions that lost the part}}."""
    totals = Counter(entry["points"] for entry in results.values())
    passed = {part: sum(entry["parts"][part]["points"] >= spec.points for entry in results.values())
              for part, spec in RUBRIC.items()}
    mistakes = {part: Counter() for part in RUBRIC}
    for entry in results.values():
        for part, spec in RUBRIC.items():
            info = entry["parts"][part]
            if info["points"] < spec.points:
                mistakes[part].update(set(info.get("diagnoses") or [NO_KNOWN_MISTAKE]))
    return {"n": len(results), "totals": totals, "passed": passed, "mistakes": mistakes}


def _png(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _score_values(numbers):
    """Every whole total from 0 to full marks, and any other total that occurred: empty bars show too."""
    return sorted(set(range(TOTAL_POINTS + 1)) | set(numbers["totals"]))


def _plots(numbers):
    """(score distribution, pass rate per part) as PNG data URIs. matplotlib's object API with the Agg
    canvas: no pyplot, so no global backend is chosen for the caller."""
    from matplotlib.figure import Figure

    full = TOTAL_POINTS
    scores = Figure(figsize=(6, 3), dpi=100)
    ax = scores.add_subplot()
    values = _score_values(numbers)
    ax.bar([f"{v:g}" for v in values], [numbers["totals"][v] for v in values], color="#4c72b0")
    ax.set_xlabel(f"points (out of {MAX_POINTS}; up to {full} with the bonus)")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    scores.tight_layout()
    rates = Figure(figsize=(6, 3), dpi=100)
    ax = rates.add_subplot()
    parts = list(RUBRIC)
    ax.bar(parts, [100 * numbers["passed"][p] / max(1, numbers["n"]) for p in parts], color="#55a868")
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of submissions passing")
    rates.tight_layout()
    return _png(scores), _png(rates)


STYLE = """body{font-family:sans-serif;max-width:52em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
td.n{text-align:right}img{max-width:100%}.note{color:#555}"""


def _table(table_id, head, rows):
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if isinstance(c, int) else f"<td>{html.escape(c)}</td>"
                                    for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><tr>{cells}</tr>{body}</table>'


def class_report(results):
    """The class report as one self-contained HTML page."""
    numbers = summary(results)
    n = numbers["n"]
    seeds = sorted({entry.get("seed") for entry in results.values() if entry.get("seed") is not None})
    quick = sum(bool(entry.get("quick")) for entry in results.values())
    scores_png, rates_png = _plots(numbers)
    parts = [(part, f"{spec.title} ({', '.join(spec.functions)})", numbers["passed"][part], n,
              f"{100 * numbers['passed'][part] / max(1, n):.0f}%") for part, spec in RUBRIC.items()]
    mistakes = [(part, mistake, count) for part in RUBRIC
                for mistake, count in sorted(numbers["mistakes"][part].items(), key=lambda kv: (-kv[1], kv[0]))]
    distribution = [(f"{points:g}", numbers["totals"][points]) for points in _score_values(numbers)]
    notes = [f"{n} submission(s); graded out of {MAX_POINTS}, points above that are a bonus."]
    if seeds:
        notes.append("random checks drawn with seed " + ", ".join(map(str, seeds)) + ".")
    if quick:
        notes.append(f"{quick} result(s) graded with --quick (without the notebook's Conv2D cells): not for marks.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Exercise 9.3: class report</title>
<style>{STYLE}</style></head><body>
<h1>Exercise 9.3: class report</h1>
{"".join(f'<p class="note">{html.escape(line)}</p>' for line in notes)}
<h2>Score distribution</h2>
<img alt="number of submissions per total score" src="{scores_png}">
{_table("scores", ["points", "submissions"], distribution)}
<h2>Pass rate per part</h2>
<img alt="share of submissions passing each part" src="{rates_png}">
{_table("parts", ["part", "what", "passed", "of", "rate"], [(p, w, a, b, r) for p, w, a, b, r in parts])}
<h2>Most common likely mistakes</h2>
<p class="note">Per part, among the submissions that lost it: how many made each mistake the grader recognises
(one submission can show several); "{NO_KNOWN_MISTAKE}" counts the others.</p>
{_table("mistakes", ["part", "likely mistake", "submissions"], mistakes)}
</body></html>
"""


def write_outputs(results, feedback=None, report=None):
    if feedback:
        write_feedback(feedback, results)
    if report:
        _atomic_write(report, class_report(results))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m grading report",
                                     description="Feedback files and the class report from an existing --json, "
                                                 "without grading again.")
    parser.add_argument("json", type=Path, metavar="RESULTS.json", help="written by python -m grading grade --json")
    parser.add_argument("--feedback", type=Path, metavar="DIR", help="one Markdown file per submission here")
    parser.add_argument("--report", type=Path, metavar="FILE", help="the class report (HTML) here")
    args = parser.parse_args(argv)
    if not (args.feedback or args.report):
        parser.error("nothing to write: give --feedback DIR, --report FILE or both")
    if not args.json.is_file():
        parser.error(f"{args.json} does not exist")
    for option in (args.feedback, args.report):
        if option is not None and not option.parent.is_dir():
            parser.error(f"cannot write {option}: folder {option.parent} does not exist")
    try:
        results = read_json(args.json)
        write_outputs(results, feedback=args.feedback, report=args.report)
    except ValueError as exc:
        parser.error(str(exc))
    for what, path in (("feedback files", args.feedback), ("class report", args.report)):
        if path:
            print(f"wrote the {what} to {path}", file=sys.stderr)
    return 0
