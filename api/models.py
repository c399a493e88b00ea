"""Request and response models: the single source of validation and of the OpenAPI document."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graph.catalog import OLD_PRICING
from search.engine import TOKEN_PATTERN, QueryStat

ARTIFACT_TYPES = Literal["model", "fine-tune", "dataset", "tool", "api", "library", "prompt", "benchmark",
                         "agent", "other"]
PRICING = Literal["free", "open-weights", "freemium", "paid", "unknown"]
ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?$"


def _no_control(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value) or "\x7f" in value:
        raise ValueError("must not contain control characters")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


USER_TOKEN_HELP = ("Pseudonymous id of the user (1-128 of A-Z a-z 0-9 . _ : = + / -), e.g. a random id the "
                   "page keeps in localStorage. Without it the user is a keyed hash of client address and "
                   "User-Agent. Stored only as an HMAC under the server secret.")
MAX_QUERY_CHARS = 4000  # people paste whole task descriptions; the encoder reads what it can, BM25 all of it
FACETS = ("type", "pricing")
# search constraints (search/constraints.py owns them; tests/test_constraints.py checks these copies agree)
SORT = Literal["relevance", "popular", "newest", "price"]
MODALITY = Literal["text", "image", "audio", "video", "pdf", "embedding"]
DROPPABLE = Literal["max_input_usd_per_mtok", "min_context_tokens", "open_weights", "license", "modality_in",
                    "modality_out", "tag", "sort", "type", "pricing"]
CONSTRAINT_PARAMS = ("max_input_usd_per_mtok", "min_context_tokens", "open_weights", "license", "modality_in",
                     "modality_out", "tag", "sort")


class SearchQuery(Strict):
    q: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS,
                   description="What the user needs, in their words (a name, a question or a whole task "
                               "description, up to 4,000 characters).")
    k: int = Field(10, ge=1, le=100, description="Results per page.")
    offset: int = Field(0, ge=0, le=1000, description="Results to skip (pagination).")
    type: list[ARTIFACT_TYPES] = Field(default_factory=list,
                                       description="Only these artifact types (repeat: type=model&type=dataset).")
    pricing: list[PRICING] = Field(default_factory=list, description="Only these pricings (repeatable; the old "
                                   "value open-source is read as open-weights).")
    _old_pricing = field_validator("pricing", mode="before")(
        lambda v: [OLD_PRICING.get(x, x) if isinstance(x, str) else x for x in v] if isinstance(v, list) else
        (OLD_PRICING.get(v, v) if isinstance(v, str) else v))
    facets: str | None = Field(None, max_length=40, pattern=r"^(type|pricing)(,(type|pricing))*$",
                               description="Comma-separated facets to count over the query's matches: "
                                           "`type`, `pricing`.")
    max_input_usd_per_mtok: float | None = Field(None, ge=0, le=1e6, description="Only artifacts whose headline "
                                                 "input price (USD per million tokens, `facts`) is at most this.")
    min_context_tokens: int | None = Field(None, ge=0, le=10**9, description="Only artifacts whose context window "
                                           "(`facts.context_tokens`) is at least this.")
    open_weights: bool | None = Field(None, description="true: only open-weights models (and open-source "
                                      "libraries, tools, datasets); false: only closed ones.")
    license: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9.+_-]+$",
                                description="Only this licence (SPDX id, any case), or `commercial`: any licence "
                                            "that allows commercial use.")
    modality_in: list[MODALITY] = Field(default_factory=list, description="Only artifacts that accept all of "
                                        "these inputs (repeatable).")
    modality_out: list[MODALITY] = Field(default_factory=list, description="Only artifacts that produce all of "
                                         "these outputs (repeatable).")
    tag: str | None = Field(None, min_length=1, max_length=100, description="Only artifacts with this tag "
                                                                             "(e.g. `mcp-server`).")
    sort: SORT = Field("relevance", description="Order of the matches: relevance, popular (stated adoption), "
                                                "newest (release date), price (headline input price, cheapest "
                                                "first); artifacts whose fact is unknown come last.")
    interpret: bool = Field(True, description="false: do not read constraints (price, openness, context, "
                                              "modality, type, sort) from the words of `q`.")
    ignore: list[DROPPABLE] = Field(default_factory=list, description="Constraints read from `q` to drop, by "
                                    "the `param` `understood.constraints` names (repeatable).")
    record: bool = Field(True, description="false: nothing is recorded and the search_id cannot take feedback.")
    preview: bool = Field(False, description="true for as-you-type previews: logged with the preview flag (its "
                                             "search_id takes feedback) but never counted toward Times Matched, "
                                             "the Match Graph or popular searches.")
    user_token: str | None = Field(None, pattern=TOKEN_PATTERN, description=USER_TOKEN_HELP)

    _clean = field_validator("q")(_no_control)


class MatchedCapability(BaseModel):
    capability_id: str
    title: str
    score: float


class SearchResultItem(BaseModel):
    rank: int
    artifact_id: str
    name: str
    type: str
    pricing: str
    description: str = Field("", description="One line from the record: the first sentence of its description "
                                             "(else of its first capability's).")
    url: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict, description="Every fact key (docs/facts.md), null where "
                                                                    "unknown.")
    score: float = Field(..., description="The ranking score: with sort=relevance (the default) results are "
                                          "sorted by it, so it never rises down the list; the sum of the parts "
                                          "in `why` (docs/relevance.md).")
    unfragile_rank: int
    unfragile_rank_interval: list[int] = Field(..., description="Approximate 95% interval [low, high] of "
                                                                 "unfragile_rank (graph/scores.py).")
    times_matched: int
    matched_capabilities: list[MatchedCapability]
    why: list[str] = Field(default_factory=list,
                           description="The parts of `score`, each with its size: `text match` (dense + "
                                       "BM25), then the rules: `name: exact|typo|words`, `languages: en → fr`, "
                                       "`modality: audio → text`, `direction: contradicts the query`, `learned`.")


class SearchResponse(BaseModel):
    search_id: str
    query: str
    took_ms: float
    total: int = Field(..., description="How many artifacts match (above the calibrated relevance), not how "
                                        "many were looked at.")
    low_confidence: bool = Field(..., description="Nothing matched the meaning of the query (no results, or only "
                                                  "artifacts named within a typo): a catalog gap or nonsense.")
    recorded: bool
    understood: dict[str, Any] = Field(default_factory=dict,
                                       description="Direction facets read from the query: task, inputs, "
                                                   "outputs, sources, targets (language codes); and "
                                                   "`constraints`: each constraint read from its words, as "
                                                   "{kind, text, param, value} (drop one with `ignore=PARAM`, "
                                                   "all with `interpret=false`).")
    has_more: bool = Field(False, description="More matches after this page.")
    next_offset: int | None = Field(None, description="The `offset` of the next page (null: none).")
    facets: dict[str, dict[str, int]] | None = Field(None, description="Counts per value, when `facets` asked.")
    suggestions: list[str] = Field(default_factory=list,
                                   description="When nothing matched: artifact names the query may have meant.")
    results: list[SearchResultItem]


class SuggestQuery(Strict):
    q: str = Field(..., min_length=1, max_length=200, description="What the user typed so far.")
    k: int = Field(8, ge=1, le=50, description="Suggestions to return.")
    type: list[ARTIFACT_TYPES] = Field(default_factory=list, description="Only these artifact types.")

    _clean = field_validator("q")(_no_control)


class Suggestion(BaseModel):
    artifact_id: str
    name: str
    type: str
    match: Literal["exact", "prefix", "word", "typo"] = Field(
        ..., description="exact name or id; prefix of the name; prefix of a later word; within one typo.")


class SuggestResponse(BaseModel):
    query: str
    suggestions: list[Suggestion]


class FeedbackRequest(Strict):
    search_id: str = Field(..., min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
    artifact_id: str = Field(..., min_length=1, max_length=200)
    event: Literal["click", "dwell", "upvote", "downvote", "unvote"] = Field(
        ..., description="`unvote` withdraws this identity's vote on the result (nothing to withdraw: accepted, "
                         "changes nothing); a vote replaces an earlier opposite one.")
    dwell_ms: int | None = Field(None, ge=0, le=86_400_000, strict=True)  # not true/false, "5" or 5.0
    user_token: str | None = Field(None, pattern=TOKEN_PATTERN, description=USER_TOKEN_HELP)


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


MAX_FEEDBACK_BATCH = 500


class FeedbackBatchRequest(Strict):
    events: list[FeedbackRequest] = Field(..., min_length=1, max_length=MAX_FEEDBACK_BATCH,
                                          description="Feedback events, each as for POST /v1/feedback.")


class RejectedEvent(BaseModel):
    index: int = Field(..., description="Position of the event in `events`.")
    code: str = Field(..., description="`not_found` (unknown search_id) or `invalid` (artifact not served "
                                       "by that search), as POST /v1/feedback would answer; `error` when the "
                                       "store refused it (send it again).")
    field: str | None
    message: str


class FeedbackBatchAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    accepted: int = Field(..., description="Events recorded.")
    rejected: list[RejectedEvent] = Field(..., description="Events not recorded, in order; the rest were.")


class ArtifactListQuery(Strict):
    type: ARTIFACT_TYPES | None = None
    sort: Literal["unfragile_rank", "times_matched", "name"] = "unfragile_rank"
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=200, description="Opaque cursor from `next_cursor`.")


class ArtifactSummary(BaseModel):
    artifact_id: str
    name: str
    type: str
    pricing: str
    unfragile_rank: int
    times_matched: int
    capabilities: int


class ArtifactList(BaseModel):
    items: list[ArtifactSummary]
    next_cursor: str | None


class CapabilityOut(BaseModel):
    capability_id: str
    title: str
    description: str = ""
    unique: str = ""
    vs_alternatives: str = ""
    times_matched: int = 0


class ComponentExplanation(BaseModel):
    value: float | None = Field(..., description="0..1, or null when nothing in the record measures it")
    known: bool = True
    weight: float
    effective_weight: float = Field(..., description="the weight renormalised over the known components")
    points: float
    reasons: list[str]
    interval: list[float] = Field(..., description="Approximate 95% interval [low, high] of the value.")
    evidence: int | None = Field(None, description="Counted searches behind a traffic-derived component "
                                                   "(match_graph, ecosystem); null for record-derived ones.")


class ScoresOut(BaseModel):
    unfragile_rank: int = Field(..., ge=0, le=100)
    unfragile_rank_interval: list[int] = Field(..., description="Approximate 95% interval [low, high].")
    adoption: float | None = Field(..., ge=0, le=1, description="null: unknown (no adoption signal)")
    quality: float | None = Field(..., ge=0, le=1, description="null: unknown (no benchmark score or Elo)")
    ecosystem: float | None = Field(..., ge=0, le=1)
    match_graph: float | None = Field(..., ge=0, le=1)
    freshness: float | None = Field(..., ge=0, le=1, description="null: unknown (no update date)")
    unknown: list[str] = Field(default_factory=list, description="components left out of UnfragileRank")
    renormalised: bool = Field(False, description="true when weights were renormalised over known components")
    explanation: dict[str, ComponentExplanation]


class Credit(BaseModel):
    source: str
    license: str
    credit: str = Field(..., description="the credit the source asks for (shown beside its content)")
    url: str
    attribution: bool = Field(..., description="true: CC-BY / CC-BY-SA, the credit must be shown")


class ArtifactOut(BaseModel):
    artifact_id: str
    name: str
    type: str
    pricing: str
    description: str
    url: str
    tags: list[str]
    signals: dict[str, Any]
    updated_at: str
    aliases: list[str] = Field(default_factory=list, description="Old ids that answer with this artifact.")
    same_as: list[str] = Field(default_factory=list, description="Different artifacts that belong with it.")
    facts: dict[str, Any] = Field(..., description="Every key of docs/facts.md; null where unknown.")
    datasets: list[str] = Field(default_factory=list, description="Ids of the datasets it was evaluated on.")
    evaluated_models: list[str] = Field(default_factory=list, description="Datasets: ids of models evaluated on it.")
    credits: list[Credit] = Field(default_factory=list, description="Sources of the record: licence and credit.")
    capabilities: list[CapabilityOut]
    times_matched: int
    scores: ScoresOut


MAX_SIMILAR = 10  # alternatives per request: the API, the widget (`data-k`, `?k=`) and docs/http.md agree


class SimilarQuery(Strict):
    k: int = Field(5, ge=1, le=MAX_SIMILAR, description=f"Alternatives to return, 1 to {MAX_SIMILAR}.")
    type: ARTIFACT_TYPES | None = None


class AlternativeOut(BaseModel):
    artifact_id: str
    name: str
    type: str
    score: float = Field(..., description="The ranking score: with sort=relevance (the default) results are "
                                          "sorted by it, so it never rises down the list; the sum of the parts "
                                          "in `why` (docs/relevance.md).")
    unfragile_rank: int
    reasons: list[str]


class SimilarResponse(BaseModel):
    artifact_id: str
    alternatives: list[AlternativeOut]


class RecommendRequest(Strict):
    positive: list[str] = Field(..., min_length=1, max_length=20)
    negative: list[str] = Field(default_factory=list, max_length=20)
    query: str | None = Field(None, max_length=512)
    k: int = Field(10, ge=1, le=100)
    type: ARTIFACT_TYPES | None = None

    _clean = field_validator("query")(lambda v: v if v is None else _no_control(v))


class RecommendResponse(BaseModel):
    alternatives: list[AlternativeOut]


class CompareQuery(Strict):
    a: str | None = Field(None, min_length=1, max_length=200, description="first artifact: id or name")
    b: str | None = Field(None, min_length=1, max_length=200, description="second artifact: id or name")
    ids: str | None = Field(None, min_length=1, max_length=1000,
                            description="2 to 4 ids or names, comma-separated (instead of a and b)")


class CompareCell(BaseModel):
    artifact_id: str
    value: Any = Field(..., description="the number (or text, list, boolean); null: no data")
    display: str = Field(..., description='as the page shows it; "no data" where value is null')
    measure: str | None = Field(None, description="adoption: the usage measures the percentile is built from")
    interval: list[int] | None = Field(None, description="UnfragileRank: approximate 95% interval")
    source: str | None = Field(None, description="benchmarks: who published the result")
    date: str | None = Field(None, description="benchmarks: date of the result")
    measured: bool | None = Field(None, description="benchmarks: independent measurement (false: a claim)")


class CompareRow(BaseModel):
    key: str = Field(..., description='stable row key, e.g. "input_price", "context", "benchmark:mmlu:em"')
    feature: str
    better: Literal["lower", "higher"] | None = Field(None, description="which way is better, if any")
    values: list[CompareCell] = Field(..., description="one cell per compared artifact, in `ids` order")
    a: str = Field(..., description="display of the first artifact's value")
    b: str = Field(..., description="display of the second artifact's value")


class CompareNeed(BaseModel):
    need: str
    key: str
    winner: str | None = Field(..., description="artifact id that wins by a clear margin, else null")
    state: Literal["clear", "no clear difference", "not comparable", "no data"]
    sentence: str


class CandidatesResponse(BaseModel):
    error: dict[str, Any]
    candidates: list[dict[str, str]] = Field(..., description="artifacts the ambiguous name may mean")


class AlignmentItem(BaseModel):
    artifact_id: str
    capability_id: str
    title: str
    counterpart_id: str
    counterpart_title: str
    similarity: float
    times_matched: int
    counterpart_times_matched: int


class CompareResponse(BaseModel):
    a: str
    b: str
    ids: list[str] = Field(..., description="the 2 to 4 compared artifacts, in order")
    names: dict[str, str]
    headline: str
    rows: list[CompareRow]
    verdict: str
    overall: str | None = Field(..., description="the overall leader (UnfragileRank intervals apart), else null")
    needs: list[CompareNeed]
    shared_benchmarks: int = Field(..., description="benchmarks (name and metric) every compared artifact has")
    credits: dict[str, list[Credit]]
    scores: dict[str, ScoresOut]
    capability_alignment: list[AlignmentItem]
    capabilities: dict[str, list[CapabilityOut]]


def _valid_day(value: str | None) -> str | None:
    if value is not None:
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a calendar date (YYYY-MM-DD)") from None
    return value


class TopQuery(Strict):
    metric: Literal["times_matched"] = "times_matched"
    since: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    limit: int = Field(10, ge=1, le=100)

    _day = field_validator("since")(_valid_day)


class TopItem(BaseModel):
    artifact_id: str
    name: str
    type: str
    times_matched: int


class TopResponse(BaseModel):
    metric: str
    since: str | None
    items: list[TopItem]


class TimelineQuery(Strict):
    bucket: Literal["day"] = "day"
    since: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")

    _day = field_validator("since")(_valid_day)


class TimelinePoint(BaseModel):
    day: str
    times_matched: int


class TimelineResponse(BaseModel):
    artifact_id: str
    bucket: str
    points: list[TimelinePoint]


class QueriesQuery(Strict):
    kind: Literal["zero_results", "filtered_empty", "low_confidence", "top"] = Field(
        "top", description="zero_results: nothing matched at all (a catalog gap); filtered_empty: matches existed "
                            "but the type/pricing filter removed them all; low_confidence; top: most searched.")
    limit: int = Field(20, ge=1, le=100)


class QueriesResponse(BaseModel):
    kind: str
    items: list[QueryStat]  # the engine's own row type (one definition: its fields are the response's)


class PopularQuery(Strict):
    limit: int = Field(6, ge=1, le=50)


class PopularItem(BaseModel):
    query: str
    users: int = Field(..., description="Distinct users whose counted, confident search this was.")


class PopularResponse(BaseModel):
    items: list[PopularItem]


class HideRequest(Strict):
    query: str = Field(..., min_length=1, max_length=512, description="The query as typed; it is normalised.")
    hidden: bool = Field(True, strict=True, description="false lets a hidden query back onto public lists.")

    _clean = field_validator("query")(_no_control)


class HideResponse(BaseModel):
    query: str = Field(..., description="The normalised query the setting applies to.")
    hidden: bool


class DayCount(BaseModel):
    day: str
    searches: int


class SummaryResponse(BaseModel):
    artifacts: int
    capabilities: int
    searches: int
    feedback: int
    clicks: int
    intents: int
    matched_artifacts: int
    zero_result_searches: int
    low_confidence_searches: int
    filtered_empty_searches: int = 0
    preview_searches: int = 0
    settled_searches: int = Field(0, description="Searches that counted toward Times Matched (first of a user's "
                                                 "query in the settle window, not a preview, not low-confidence).")
    searches_per_day: list[DayCount]


class CapabilityIn(Strict):
    title: str | None = Field(None, min_length=1, max_length=300)
    description: str | None = Field(None, min_length=1, max_length=10000)
    unique: str | None = Field(None, max_length=5000)
    vs_alternatives: str | None = Field(None, max_length=5000)

    _clean = field_validator("title", "description", "unique", "vs_alternatives")(
        lambda v: v if v is None else _no_control(v))


class ArtifactIn(Strict):
    """Same shape as the catalog schema (graph/artifact.schema.json), which is checked too."""

    id: str = Field(..., pattern=ID_PATTERN, max_length=200)
    name: str = Field(..., min_length=1, max_length=300)
    type: ARTIFACT_TYPES
    pricing: PRICING = "free"
    description: str = Field("", max_length=20000)
    url: str | None = Field(None, max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=100)
    signals: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, Any] | None = None
    updated_at: str | None = None
    aliases: list[str] = Field(default_factory=list, max_length=200,
                               description="Old ids that resolve to this artifact (docs/catalog.md).")
    same_as: list[str] = Field(default_factory=list, max_length=50,
                               description="Ids of different artifacts that belong together.")
    capabilities: list[CapabilityIn] = Field(..., min_length=1, max_length=200)

    _clean = field_validator("name", "description", "url", "updated_at")(lambda v: v if v is None else _no_control(v))
    _old_pricing = field_validator("pricing", mode="before")(
        lambda v: OLD_PRICING.get(v, v) if isinstance(v, str) else v)
    _clean_tags = field_validator("tags")(lambda v: [_no_control(t) for t in v])


class BatchRequest(Strict):
    upsert: list[ArtifactIn] = Field(default_factory=list, max_length=1000)
    delete: list[str] = Field(default_factory=list, max_length=1000)


class WriteResponse(BaseModel):
    artifacts: int
    capabilities: int
    embedded: int
    removed: int
    generation: str


class Health(BaseModel):
    status: str
    checks: dict[str, Any] = Field(default_factory=dict)


class SearchStatsQuery(Strict):
    since: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="First day (YYYY-MM-DD, UTC).")
    until: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Last day, inclusive.")
    limit: int = Field(10, ge=1, le=100, description="Rows per list.")

    _day = field_validator("since", "until")(_valid_day)


class SearchStatRow(BaseModel):
    query: str
    searches: int = Field(..., description="Searches of it in the range (as-you-type previews not counted).")
    clicked: int = Field(..., description="Of those, searches that led to at least one click.")
    ctr: float = Field(..., description="Click-through rate: clicked / searches.")
    zero_results: int
    low_confidence: int


class SearchStatsResponse(BaseModel):
    since: str | None
    until: str | None
    top: list[SearchStatRow] = Field(..., description="Most searched queries, with click-through rate.")
    zero_results: list[SearchStatRow] = Field(..., description="Queries that found nothing: catalog gaps.")
    low_confidence: list[SearchStatRow] = Field(..., description="Queries whose best match was weak.")
