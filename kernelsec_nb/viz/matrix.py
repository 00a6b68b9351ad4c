"""ATT&CK matrix of a hits table: tactics as columns, techniques with their hit counts."""

from __future__ import annotations

import altair as alt
import polars as pl

from kernelsec_nb._text import shown_frame
from kernelsec_nb.viz import _common as c

#: Enterprise ATT&CK tactics, in the matrix's order (the names Sigma tags use).
TACTICS = (
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence",
    "privilege-escalation", "defense-evasion", "credential-access", "discovery",
    "lateral-movement", "collection", "command-and-control", "exfiltration", "impact",
)
UNMAPPED = "(no tactic)"
LEVEL_ORDER = ("informational", "low", "medium", "high", "critical")
LEVEL_COLORS = ["#56B4E9", "#009E73", "#E69F00", "#D55E00", "#000000"]
MAX_TITLES = 3


def attack_matrix(hits: pl.DataFrame, *, width: int = 140, height: int = 26) -> alt.Chart:
    """The techniques of ``hits`` (``case.hunt``/``case.detect``) under their tactics.

    One cell per (tactic, technique), labelled ``T1059.004 ×3``, coloured by the highest rule
    level among its hits; the tooltip names up to three rules.  A hit whose rule names several
    tactics counts under each; a technique without a tactic tag goes to ``(no tactic)``; hits
    without techniques are left out (the subtitle says how many).  Rule titles and every other
    string are shown through :func:`kernelsec_nb.shown` and inlined as data, never as markup.

    Parameters
    ----------
    hits : polars.DataFrame
        A hits table (columns ``techniques``, ``tactics``, ``level``, ``title``, ``rule_id``).
    width, height : int
        Pixels per column and per row.

    Returns
    -------
    altair.Chart

    Examples
    --------
    >>> import kernelsec_nb as kn
    >>> chart = kn.viz.attack_matrix(kn.hunt.empty_hits())
    >>> chart.to_dict()["title"]["subtitle"]
    ['no hit names an ATT&CK technique']
    """
    need = {"techniques", "tactics", "level", "title", "rule_id"}
    if not need <= set(hits.columns):
        raise ValueError(f"hits must have the columns {sorted(need)} (a case.hunt() table)")
    rank = {lv: i for i, lv in enumerate(LEVEL_ORDER)}
    base = hits.select(
        pl.col("techniques").fill_null([]), pl.col("tactics").fill_null([]),
        pl.col("level").fill_null("medium"), pl.col("title").fill_null(""), "rule_id",
    ).with_row_index("_hit")
    without = base.filter(pl.col("techniques").list.len() == 0).height
    cells = (base.filter(pl.col("techniques").list.len() > 0)
             .with_columns(pl.when(pl.col("tactics").list.len() > 0).then(pl.col("tactics"))
                           .otherwise(pl.lit([UNMAPPED])).alias("tactics"))
             .explode("techniques").explode("tactics")
             .with_columns(pl.col("level").str.to_lowercase().replace_strict(rank, default=2).alias("_rank")))
    if cells.height:
        cells = (cells.group_by("tactics", "techniques")
                 .agg(pl.col("_hit").n_unique().alias("hits"), pl.col("_rank").max().alias("_rank"),
                      pl.col("title").unique(maintain_order=True).head(MAX_TITLES).alias("_titles"),
                      pl.col("rule_id").n_unique().alias("rules"))
                 .with_columns(
                     pl.col("_rank").replace_strict(dict(enumerate(LEVEL_ORDER)), return_dtype=pl.String).alias("level"),
                     pl.col("_titles").list.join(" · ").alias("rule_titles"),
                     (pl.col("techniques") + pl.lit(" ×") + pl.col("hits").cast(pl.String)).alias("label"))
                 .rename({"tactics": "tactic", "techniques": "technique"})
                 .sort("tactic", "hits", "technique", descending=[False, True, False])
                 .with_columns(pl.int_range(pl.len()).over("tactic").alias("row"))
                 .drop("_rank", "_titles"))
        cells = c.clip_text(shown_frame(cells), ["tactic", "technique", "rule_titles", "label"], 120)
    present = set(cells["tactic"].to_list()) if cells.height else set()
    order = [t for t in TACTICS if t in present] + sorted(present - set(TACTICS))
    subtitle = []
    if not cells.height:
        subtitle.append("no hit names an ATT&CK technique")
    elif without:
        subtitle.append(f"{without} hit(s) without an ATT&CK technique not shown")
    data = c.inline(cells) if cells.height else alt.Data(values=[])
    enc_x = alt.X("tactic:N", sort=order, axis=alt.Axis(orient="top", labelAngle=0, title=None,
                                                         labelLimit=width))
    enc_y = alt.Y("row:O", axis=None)
    rect = alt.Chart(data).mark_rect(stroke="white", strokeWidth=2).encode(
        x=enc_x, y=enc_y,
        color=alt.Color("level:N", scale=alt.Scale(domain=list(LEVEL_ORDER), range=LEVEL_COLORS),
                        legend=alt.Legend(title="highest level")),
        tooltip=[alt.Tooltip("tactic:N"), alt.Tooltip("technique:N"), alt.Tooltip("hits:Q"),
                 alt.Tooltip("rules:Q"), alt.Tooltip("rule_titles:N", title="rules")],
    )
    text = alt.Chart(data).mark_text(fontSize=11, color="white").encode(x=enc_x, y=enc_y, text="label:N")
    rows = int(cells["row"].max()) + 1 if cells.height else 1
    return (rect + text).properties(
        width=alt.Step(width) if order else 300, height=rows * height,
        title=alt.Title("ATT&CK techniques hit", subtitle=subtitle or [f"{len(order)} tactic(s)"]))  # type: ignore[return-value]
