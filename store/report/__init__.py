"""The quality report's figures: reviewer agreement and the sourcing methods compared.

Plain functions over a session; rendering (HTML, Slack, the dataset card) lives elsewhere.
"""

from store.report.agreement import (
    Alpha,
    CategoryAgreement,
    ReviewerRow,
    agreement_by_category,
    alpha_of,
    categories_meeting,
    reviewer_rows,
)
from store.report.build import Report, build_report
from store.report.diversity import Diversity, distinct_n, diversity_of
from store.report.sourcing import OriginMix, OriginRow, TokenPrices, origin_mix, origin_rows

__all__ = [
    "Alpha",
    "CategoryAgreement",
    "Diversity",
    "OriginMix",
    "OriginRow",
    "Report",
    "ReviewerRow",
    "TokenPrices",
    "agreement_by_category",
    "alpha_of",
    "build_report",
    "categories_meeting",
    "distinct_n",
    "diversity_of",
    "origin_mix",
    "origin_rows",
    "reviewer_rows",
]
