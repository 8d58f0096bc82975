"""Personas: the typical customer of each segment, and a name generated from what sets it apart.

segments table → per segment: medians of the numeric features, each feature's standardised
difference to the whole base, the dominant category of every categorical column with its
over-representation ("73 % Healthcare vs 17 % overall"), a generated name from the two most
distinctive traits, and a one-line portrait.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from custseg import i18n
from custseg.explain import labels as words


def _label(col: str, lang: str) -> str:
    """Display label in plain words, lower case to sit inside a sentence (:mod:`.labels`)."""
    known: dict[str, str] = i18n.catalog(lang)["features"]
    return known[col].lower() if col in known else words.readable(col, lang)


def _trait(col: str, z: float, lang: str) -> str:
    """A numeric trait in plain words: "high income", "more wines" (share of spend)."""
    what = words.product(col.removeprefix("share_"), lang) if col.startswith("share_") else None
    if what is not None:
        return i18n.t(lang, "trait_more" if z > 0 else "trait_less", what=what)
    return i18n.t(
        lang,
        "trait",
        level=words.high(col, lang) if z > 0 else i18n.t(lang, "low"),
        feature=_label(col, lang),
    )


def _num(value: float, lang: str) -> str:
    decimals = 0 if float(value).is_integer() or abs(value) >= 100 else 2
    return i18n.number(value, lang, decimals)


def personas(
    table: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    lang: str = "en",
) -> dict[int, dict[str, Any]]:
    """Per segment: traits, generated name and portrait.

    ``table`` has a ``segment`` column and the feature columns. A numeric trait is the
    segment mean's distance to the base mean in base standard deviations (z); a categorical
    trait is the segment's most over-represented category, with its share in the segment and
    in the base (lift = ratio of the two). The name joins the two strongest traits, measured
    on one scale: |z| for numbers, lift − 1 for categories.
    """
    out: dict[int, dict[str, Any]] = {}
    mean = table[list(numeric)].mean()
    base_median = table[list(numeric)].median()
    std = table[list(numeric)].std(ddof=0).replace(0, 1.0)
    base_shares = {c: table[c].astype(str).value_counts(normalize=True) for c in categorical}
    used: set[str] = set()
    # only the columns read: splitting every column (ids, names) by segment costs 1 s at 4 M
    needed = list(dict.fromkeys([*numeric, *categorical, "segment"]))
    for seg, part in table[needed].groupby("segment", sort=True):
        traits: list[tuple[float, str, dict[str, Any]]] = []
        medians = {c: float(part[c].median()) for c in numeric}
        for c in numeric:
            z = float((part[c].mean() - mean[c]) / std[c])
            trait = _trait(c, z, lang)
            # a trait names the segment only when its median lies on the same side of the
            # base's median as its mean does of the base's mean: "high age" is never printed
            # beside a median age below the typical customer's
            side = float(np.sign(medians[c] - float(base_median[c])))
            strength = abs(z) if side == float(np.sign(z)) and z != 0 else 0.0
            traits.append((strength, trait, {"feature": c, "z": round(z, 3)}))
        dominant: dict[str, dict[str, Any]] = {}
        for c in categorical:
            shares = part[c].astype(str).value_counts(normalize=True)
            lift = (shares / base_shares[c].reindex(shares.index)).fillna(1.0)
            top = str(lift.idxmax())
            info = {
                "feature": c,
                "category": top,
                "share": round(float(shares[top]), 4),
                "base_share": round(float(base_shares[c][top]), 4),
                "lift": round(float(lift[top]), 3),
            }
            dominant[c] = info
            if shares[top] >= 0.5:
                traits.append(
                    (
                        float(lift[top]) - 1.0,
                        i18n.t(
                            lang,
                            "trait_category",
                            feature=_label(c, lang),
                            value=words.value(top, lang),
                        ),
                        info,
                    )
                )
        traits.sort(key=lambda t: (-t[0], t[1]))
        named = [t for t in traits if t[0] > 0][:2]
        name = " · ".join(t[1] for t in named) or i18n.t(lang, "segment") + f" {seg}"
        name = name[:1].upper() + name[1:]
        if name in used:
            name = f"{name} ({seg})"
        used.add(name)
        cats = [
            i18n.t(
                lang,
                "persona_category_of",
                share=i18n.number(100 * d["share"], lang),
                feature=_label(d["feature"], lang),
                category=words.value(d["category"], lang),
                base=i18n.number(100 * d["base_share"], lang),
            )
            for d in sorted(dominant.values(), key=lambda d: -d["lift"])[:2]
            if d["lift"] >= 1.2 and d["share"] >= 0.2
        ]
        nums = [
            f"{_label(t[2]['feature'], lang)} {_num(medians[t[2]['feature']], lang)}"
            for t in traits
            if "z" in t[2]
        ][:3]
        portrait = i18n.t(lang, "persona", numbers=", ".join(nums)) + (
            " " + "; ".join(cats) + "." if cats else ""
        )
        out[int(seg)] = {
            "name": name,
            "portrait": portrait,
            "medians": {k: round(v, 4) for k, v in medians.items()},
            "z": {t[2]["feature"]: t[2]["z"] for t in traits if "z" in t[2]},
            "dominant": dominant,
            "size": len(part),
        }
    return out


def external_validity(labels: np.ndarray, given: pd.Series) -> dict[str, Any]:
    """Agreement between our segments and a label given in the data (ARI and AMI).

    A low value is normal: the given label answers another question. It is reported, never
    used to tune anything.
    """
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    mask = given.notna().to_numpy()
    y = given[mask].astype(str).to_numpy()
    return {
        "column": str(given.name),
        "customers": int(mask.sum()),
        "ari": round(float(adjusted_rand_score(y, labels[mask])), 4),
        "ami": round(float(adjusted_mutual_info_score(y, labels[mask])), 4),
        "crosstab": pd.crosstab(labels[mask], y).to_dict(orient="index"),
    }
