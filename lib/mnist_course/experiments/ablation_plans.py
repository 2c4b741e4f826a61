"""What each ablation is, as data: its rows, why each row, its seeds, its validation fold
and the rule that decides it, fixed before its rows were trained.

An **ablation** trains a base row and rows that each change one thing (a
:class:`Variant`) on the validation split, over several seeds, and compares
final-epoch **validation** accuracies; :mod:`mnist_course.experiments.ablation` trains and shows
them. Its outcome is never written here: :func:`decide` computes it from the record
(``reports/ablations/<name>.json``), and the notebooks, the course command and the
tests all call it.

Two rules recur (their names are used in the notebooks and ``docs/ablations.md``):

- :data:`ONE_IMAGE`: the row with the highest mean over seeds of its lowest
  validation accuracy in the last 3 epochs, if that beats the base's by more than
  0.02 points (one validation image) and its mean final validation accuracy is not
  below the base's.
- :data:`TWO_STANDARD_ERRORS`: the row with the highest mean final validation
  accuracy, if it beats the base's by more than twice the standard error of the
  difference (Welch) and the mean of its lowest validation accuracy in the last 3
  epochs is not below the base's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .recipes import RECIPES, SEARCH_3000, SEARCH_4000, SEARCH_5000, Recipe, apply_changes

METRICS = {"final": "final_val_acc", "last3": "last3_min_val_acc"}  # a rule's metric -> the record's key
METRIC_WORDS = {"final": "final validation accuracy", "last3": "lowest validation accuracy of the last 3 epochs"}


@dataclass(frozen=True)
class Variant:
    """A named change of a recipe: ``changes`` maps model keywords, TrainConfig fields,
    Extras fields, schedule details or Augmentation fields to their new values
    (``recipes.apply_changes`` routes each); ``why`` says what the row tests."""

    name: str
    changes: dict
    why: str = ""


@dataclass(frozen=True)
class Rule:
    """How an ablation decides, fixed before its rows were trained.

    The candidate is the row (not the base) with the highest mean of ``metric``
    ("final": final validation accuracy; "last3": the lowest validation accuracy of
    the last 3 epochs), in percent. It clears the rule when its mean beats the base's
    by more than ``margin`` points (at least, with ``ties_adopt``), and by more than
    ``margin_se`` standard errors of the difference (the record's ``diff_se``; final
    accuracy only), and the mean of ``guard`` (a metric, or None) is not below the base's.
    """

    name: str
    metric: str = "final"
    margin: float = 0.0
    margin_se: float = 0.0
    guard: str | None = "last3"
    ties_adopt: bool = False

    def __post_init__(self):
        if self.metric not in METRICS or (self.guard is not None and self.guard not in METRICS):
            raise ValueError(f"metric={self.metric!r}, guard={self.guard!r}: valid metrics {', '.join(METRICS)} "
                             f"(guard may be None)")
        if self.margin_se and self.metric != "final":
            raise ValueError("margin_se needs metric='final': the record holds the standard error of that difference")

    def text(self) -> str:
        """The rule in one sentence, as the notebooks print it."""
        what = {"final": "mean final validation accuracy",
                "last3": "mean over seeds of its lowest validation accuracy in the last 3 epochs"}
        beats = " and ".join(
            ([f"{'at least equals' if self.ties_adopt and not self.margin else 'beats'} the base's"
              + (f" by {'at least' if self.ties_adopt else 'more than'} {self.margin:.2f} points"
                 if self.margin else "")]
             if self.margin or not self.margin_se else [])
            + ([f"beats the base's by more than {self.margin_se:g} standard errors of the difference"]
               if self.margin_se else []))
        guard = f", and its {what[self.guard]} is not below the base's" if self.guard else ""
        return f"{self.name}: the row with the highest {what[self.metric]} clears it if that {beats}{guard}."


ONE_IMAGE = Rule("one image", metric="last3", margin=0.02, guard="final")
TWO_STANDARD_ERRORS = Rule("two standard errors", metric="final", margin_se=2.0, guard="last3")
NOT_WORSE = Rule("not worse", metric="final", guard=None, ties_adopt=True)  # a part that does not help goes
TWO_STANDARD_ERRORS_ALONE = Rule("two standard errors, no guard", metric="final", margin_se=2.0, guard=None)


def decide(record: dict, rule: Rule) -> dict:
    """Apply ``rule`` to a recorded ablation (``reports/ablations/<name>.json``: its rows,
    the base first, each with ``final_val_acc`` and ``last3_min_val_acc`` aggregates and
    ``diff``/``diff_se`` in points).

    Returns {"row": the candidate's name, "cleared": bool, "gain": its mean minus the
    base's on the rule's metric (points), "se": the standard error of the difference of
    final accuracies (None with one seed), "guard_gain": the same on the guard (None
    without one), "text": one line saying what the record shows}. Raises ValueError for
    a record with no row besides its base, or a standard-error rule on a one-seed record.
    """
    base, rows = record["rows"][0], record["rows"][1:]
    if not rows:
        raise ValueError(f"{record.get('study', 'the record')} has no row besides its base: nothing to decide")
    key = METRICS[rule.metric]
    best = max(rows, key=lambda row: row[key]["mean"])  # the first of equals, as listed
    gain = best[key]["mean"] - base[key]["mean"]
    se = best.get("diff_se")
    if rule.margin_se and se is None:
        raise ValueError(f"rule {rule.name!r} needs the standard error of the difference: record more than one seed")
    eps = 1e-9  # means of the same images: a tie is a tie, not a float's last bit
    cleared = gain >= rule.margin - eps if rule.ties_adopt else gain > rule.margin + eps
    if rule.margin_se:
        cleared = cleared and gain > rule.margin_se * se
    guard_gain = None
    if rule.guard:
        guard_gain = best[METRICS[rule.guard]]["mean"] - base[METRICS[rule.guard]]["mean"]
        cleared = cleared and guard_gain >= -eps
    shown = f"{METRIC_WORDS[rule.metric]} {gain:+.2f}" + (
        f" ± {se:.2f}" if se is not None and rule.metric == "final" else "") + " points"
    if guard_gain is not None:
        shown += f", {METRIC_WORDS[rule.guard]} {guard_gain:+.2f} points"
    verdict = "clears the rule" if cleared else "does not clear the rule; the base stays"
    return {"row": best["name"], "cleared": cleared, "gain": gain, "se": se, "guard_gain": guard_gain,
            "text": f"Rule \"{rule.name}\": best row {best['name']!r}, {shown}: {verdict}."}


@dataclass(frozen=True)
class Ablation:
    """Rows to train against a base row. An ablation of a step starts from the notebook's
    recipe and undoes one choice per row; a design ablation starts from an earlier
    design (the recipe with ``base_changes``) and tries one candidate change per row,
    which is how a step's recipe is chosen on the validation split."""

    notebook: str                  # the step notebook whose recipe it starts from
    variants: tuple                # Variant rows, each applied to the base
    base_changes: dict = field(default_factory=dict)  # base = recipe + these; {} = the recipe
    base_name: str = "recipe"      # the base row's name
    about: str = ""                # one line for the table's title
    seeds: tuple = ()              # a recording's seeds; () = SEEDS (3 runs per row)
    recipe: Recipe | None = None   # the recipe to start from when it is not RECIPES[notebook]
    val_fold: int = 0              # which 5,000 training images validate (data.validation_split):
                                   # fold k = images [5,000 k, 5,000 (k + 1)); 0 = the course's split
    question: str = ""             # why it was trained, what it asks
    rule: Rule | None = None       # None: a measurement, shown and not decided

    def start(self) -> Recipe:
        """The base row's recipe: the ablation's recipe (default the notebook's) with ``base_changes``."""
        return apply_changes(self.recipe or RECIPES[self.notebook], self.base_changes)


SEEDS = [1, 2, 3]  # an ablation's default seeds: 3 runs per variant
FIVE, TEN = (1, 2, 3, 4, 5), tuple(range(1, 11))

_TAUGHT = Variant("distilled from wide57k", {"teacher": "wide57k", "distill_weight": 0.5, "distill_temperature": 4.0},
                  "half the loss from a 56,688-parameter teacher's logits (softmax at temperature 4), half "
                  "from the labels")
_BN_FIRST = "every block conv -> BatchNorm -> ReLU instead of conv -> ReLU -> BatchNorm"
_PRECISE_BN = ("BatchNorm's statistics recomputed after every epoch over the 55,000 training images without "
               "augmentation, the weights fixed")

_STEP4_CANDIDATES = (
    Variant("no dropout", {"dropout": 0.0}, "does the 5% dropout after the pool help a model this small?"),
    Variant("no rotation", {"max_rotation": 0.0}, "does the ±7° rotation help?"),
    Variant("batch 64", {"batch_size": 64}, "twice the optimizer steps in the same 15 epochs: does the "
            "model, still improving in its last epochs, gain from them?"),
    Variant("no transition", {"transition": False}, "no 1x1 squeeze to 8 channels: conv3 reads the 16 "
            "pooled channels (16 -> 10), 7,980 parameters"),
    Variant("batch 64 + no trans", {"batch_size": 64, "transition": False},
            "the two candidates that gained, together: do their gains add up?"),
    Variant("batch 64 + 3-phase", {"batch_size": 64, "three_phase": True},
            "Smith's original 1cycle: up to the peak by epoch 4.5, back down to lr/25 by epoch 9, "
            "then annihilation to ~0 over epochs 10-15"),
    Variant("batch 64 + warm-up 15%", {"batch_size": 64, "pct_start": 0.15},
            "the peak at epoch 2.25 instead of 4.5, so the anneal is further along in the last epochs"),
    Variant("batch 64 + BN mom 0.01", {"batch_size": 64, "bn_momentum": 0.01},
            "BatchNorm's running statistics averaged over ~100 batches instead of ~10: steadier evaluation?"),
    Variant("batch 64 + EMA 0.999", {"batch_size": 64, "ema_decay": 0.999},
            "evaluate a moving average of the weights over ~1,000 optimizer steps (about one epoch): "
            "are the last epochs steadier, and higher?"),
    Variant("batch 64 + GAP -> 1x1", {"batch_size": 64, "head": "gap"},
            "conv6 (1,440 parameters) replaced by GAP -> 1x1 conv 16 -> 10 (160): 6,544 parameters"),
    Variant("batch 64 + 4th block", {"batch_size": 64, "head": "block"},
            "the 1,280 freed parameters buy a fourth BatchNorm block (16 -> 16, padded, RF 22) before "
            "GAP -> 1x1; conv3/conv4 trimmed to 10/14 channels: 7,972 parameters"),
)
_WIDTH_ROWS = (
    Variant("GAP + wide conv1/conv3", {"head": "gap", "width1": 10, "width3": 16},
            "the freed budget before and after the pool: conv1 8 -> 10 channels, conv3 12 -> 16 "
            "(7,726 parameters)"),
    Variant("GAP + wide squeeze/conv3", {"head": "gap", "squeeze": 10, "width3": 16},
            "the freed budget after the pool only: the 1x1 squeeze 8 -> 10 channels, conv3 12 -> 16 "
            "(7,736 parameters)"),
)
_BEFORE_SHIFT = {"max_shift": 0}  # Step 4's ablations recorded before the recipe took its shift of ±2 pixels

ABLATIONS = {
    "02_skeleton": Ablation("02_skeleton", (
        Variant("fc head", {"head": "fc"}, "Step 1 -> 2: a fully connected layer on the last map instead of GAP"),
        Variant("no transition", {"transition": False}, "no 1x1 squeeze after the MaxPool: conv4 reads all 32 "
                "pooled channels; does the squeeze cost accuracy, or only save parameters?"),
    ), about="Step 2's skeleton with one structural choice undone per row",
        question="What does each structural choice of the skeleton cost or buy?"),
    "03_batchnorm": Ablation("03_batchnorm", (
        Variant("no BatchNorm", {"batchnorm": False}, "the same widths without BatchNorm (conv biases instead)"),
        Variant("no BN, lr 0.02", {"batchnorm": False, "lr": 0.02}, "without BatchNorm at Step 2's rate"),
        Variant("lr 0.02", {"lr": 0.02}, "with BatchNorm at Step 2's rate: is the higher rate BatchNorm's gift?"),
    ), about="Step 3's widths with and without BatchNorm, at its rate and at Step 2's",
        question="Is Step 3's gain BatchNorm's, or its higher learning rate's?"),
    "04_capacity": Ablation("04_capacity", (
        Variant("batch 128", {"batch_size": 128}, "the first design's batch: half the optimizer steps"),
        Variant("no dropout", {"dropout": 0.0}, "does the 5% dropout after the pool help? (today's recipe)"),
        Variant("no rotation", {"max_rotation": 0.0}, "does the ±7° rotation help?"),
        Variant("pool after RF 7", {"pool_after_rf": 7}, "Step 3's MaxPool position, same layers and parameters"),
        Variant("no extra block", {"extra_block": False}, "without conv5, the block the moved pool paid for"),
        Variant("constant lr 0.05", {"schedule": "constant", "lr": 0.05}, "Step 3's constant rate, no one-cycle"),
    ), base_changes={"dropout": 0.05, **_BEFORE_SHIFT}, base_name="with dropout",
        about="Step 4's design (with dropout 0.05) with one of its choices undone per row",
        question="What does each of Step 4's choices buy, the MaxPool's position and the block it paid for "
                 "first? Recorded on the design with dropout 0.05."),
    "04_capacity-design": Ablation("04_capacity", _STEP4_CANDIDATES,
        base_changes={"batch_size": 128, "dropout": 0.05, **_BEFORE_SHIFT}, base_name="first design",
        about="candidates tried on Step 4's first design (batch 128, 1x1 transition)",
        question="Which changes of the first design gain on validation? Rows were added one at a time, each "
                 "after the last: batch 64 was chosen here; the schedule, BatchNorm-momentum and EMA rows "
                 "aimed at the wobble of the last epochs; the GAP -> 1x1 head measured what the class-map "
                 "conv costs."),
    "04_capacity-dropout": Ablation("04_capacity", (
        Variant("no dropout", {"dropout": 0.0}, "today's recipe: no dropout after the blocks after the pool"),
    ), base_changes={"dropout": 0.05, **_BEFORE_SHIFT}, base_name="dropout 0.05", seeds=FIVE,
        about="Step 4's dropout over 5 seeds: the decision that removed it",
        question="Does the dropout of 0.05 earn its place? A part that does not raise validation accuracy goes.",
        rule=NOT_WORSE),
    "04_capacity-margin": Ablation("04_capacity", _WIDTH_ROWS, base_changes=_BEFORE_SHIFT, seeds=FIVE,
        about="where Step 4 spends the parameters the GAP -> 1x1 head frees, over 5 seeds",
        question="The GAP -> 1x1 head frees 1,280 parameters: spent on width before the pool or after it, "
                 "do they raise the last epochs?", rule=ONE_IMAGE),
    "04_capacity-training": Ablation("04_capacity", (
        Variant("weight decay 5e-4", {"weight_decay": 5e-4},
                "an L2 penalty on the weights (SGD's weight_decay): BatchNorm makes the convolutions "
                "scale-free, so the decay raises their effective learning rate late in training "
                "(Zhang et al., ICLR 2019, section 4.1)"),
        Variant("batch 32", {"batch_size": 32},
                "batch 64 gained over 128 (design ablation): do twice the optimizer steps again gain?"),
    ), base_changes=_BEFORE_SHIFT, seeds=FIVE,
        about="two changes of Step 4's training, each alone, over 5 seeds",
        question="Can the training, rather than the design, raise the last epochs?", rule=ONE_IMAGE),
    "04_capacity-augment": Ablation("04_capacity", (
        Variant("shift ±2 px", {"max_shift": 2},
                "each training digit also moved by up to 2 whole pixels along x and y"),
        Variant("scale ±10%", {"max_scale": 0.1},
                "each training digit also resized by a factor from 0.9 to 1.1"),
    ), base_changes=_BEFORE_SHIFT, seeds=FIVE,
        about="two more augmentations of Step 4's training digits, each alone, over 5 seeds",
        question="MNIST's test digits come from other writers than its training digits: do small shifts or "
                 "size changes beside the rotation help (Simard et al., ICDAR 2003)?", rule=ONE_IMAGE),
    "04_capacity-width": Ablation("04_capacity", _WIDTH_ROWS, seeds=FIVE,
        about="the margin ablation's widths again, with the shift of ±2 pixels, over 5 seeds",
        question="With the shift the model fits its training digits less well: is it now short of capacity?",
        rule=ONE_IMAGE),
    "04_capacity-lr": Ablation("04_capacity", (
        Variant("lr 0.05", {"lr": 0.05}, "half the one-cycle peak learning rate: smaller optimizer steps"),
        Variant("lr 0.2", {"lr": 0.2}, "twice the one-cycle peak learning rate: faster progress in 15 epochs?"),
        Variant("label smoothing 0.1", {"label_smoothing": 0.1},
                "training targets 0.91 for the true class and 0.01 for each other (torch's cross_entropy "
                "label_smoothing; Szegedy et al., CVPR 2016, section 7): less pull towards confident logits"),
    ), seeds=FIVE,
        about="Step 4's peak learning rate halved and doubled, and label smoothing, each alone, over 5 seeds",
        question="The peak learning rate was set by hand for batch 128 and never measured at batch 64. The "
                 "rule asks for two standard errors from here on: the augment ablation adopted a gain below "
                 "its own standard error.", rule=TWO_STANDARD_ERRORS),
    "04_capacity-lr10": Ablation("04_capacity", (
        Variant("lr 0.2", {"lr": 0.2}, "twice the one-cycle peak learning rate, over 10 seeds"),
    ), seeds=TEN,
        about="the learning-rate ablation's best row against the recipe, over 10 seeds",
        question="One second look at the learning-rate ablation's best row over seeds 1-10, decided before "
                 "seeds 6-10 were trained; no more seeds after it.", rule=TWO_STANDARD_ERRORS),
    "04_capacity-clean": Ablation("04_capacity", (
        Variant("clean last 3 epochs", {"clean_last_epochs": 3},
                "epochs 13-15 train on the digits as they are (no rotation, no shift)"),
        Variant("clean last 5 epochs", {"clean_last_epochs": 5},
                "epochs 11-15 train on the digits as they are (no rotation, no shift)"),
    ), seeds=FIVE,
        about="Step 4's last epochs trained without augmentation, over 5 seeds",
        question="Test digits are neither rotated nor shifted: does ending on the digits as they are help "
                 "(as YOLOX turns its augmentation off for its last epochs)?", rule=TWO_STANDARD_ERRORS),
    "04_capacity-block": Ablation("04_capacity", (
        Variant("BN before ReLU", {"bn_first": True}, _BN_FIRST),
        Variant("SiLU", {"activation": "silu"},
                "every block's ReLU replaced by SiLU, x * sigmoid(x): no unit is ever switched off"),
    ), seeds=FIVE,
        about="Step 4's block order and nonlinearity, one change each, over 5 seeds",
        question="In layers of 8-16 channels a unit that ReLU switches off is a large share: does BatchNorm "
                 "before ReLU, or SiLU, help? Neither adds a parameter.", rule=TWO_STANDARD_ERRORS),
    "04_capacity-block10": Ablation("04_capacity", (
        Variant("BN before ReLU", {"bn_first": True}, f"{_BN_FIRST}, over 10 seeds"),
    ), seeds=TEN,
        about="the block ablation's best row against the recipe, over 10 seeds",
        question="The block ablation's one second look over seeds 1-10, under the same rule.",
        rule=TWO_STANDARD_ERRORS),
    "04_capacity-elastic": Ablation("04_capacity", (
        Variant("elastic α 34, σ 4", {"elastic_alpha": 34.0, "elastic_sigma": 4.0},
                "Simard et al.'s elastic distortion after the rotation and shift: a random field blurred "
                "by a Gaussian of 4 px, times 34 px"),
        Variant("elastic α 25, σ 5", {"elastic_alpha": 25.0, "elastic_sigma": 5.0},
                "a milder, smoother field: torchvision's default ElasticTransform (alpha 50, sigma 5)"),
    ), seeds=FIVE,
        about="an elastic distortion of Step 4's training digits, at two strengths, over 5 seeds",
        question="Simard et al.'s main result is the elastic distortion (data.random_elastic), which bends "
                 "strokes as no affine change can: does it help Step 4?", rule=TWO_STANDARD_ERRORS),
    "04_capacity-distill": Ablation("04_capacity", (_TAUGHT,), seeds=FIVE,
        about="knowledge distillation from a 7x larger teacher into Step 4, over 5 seeds",
        question="A teacher adds information without adding parameters to the student (Hinton et al. 2015): "
                 "its values fixed before any student trained, nothing tuned.", rule=TWO_STANDARD_ERRORS),
    "04_capacity-combined": Ablation("04_capacity", (
        Variant("BN before ReLU + distilled", {"bn_first": True, "teacher": "wide57k", "distill_weight": 0.5,
                                               "distill_temperature": 4.0},
                "every block conv -> BatchNorm -> ReLU, and half the loss from the wide57k teacher at "
                "temperature 4"),
    ), seeds=TEN,
        about="the two nearest levers together, BatchNorm before ReLU and the teacher, over 10 seeds",
        question="The two levers that came closest change different parts: do their gains add? The last look "
                 "at either.", rule=TWO_STANDARD_ERRORS),
    "04_capacity-precisebn": Ablation("04_capacity", (Variant("PreciseBN", {"precise_bn": True}, _PRECISE_BN),),
        seeds=FIVE,
        about="BatchNorm statistics recomputed over the training images after every epoch (PreciseBN), "
              "over 5 seeds",
        question="Are the last epochs' BatchNorm statistics, averaged over ~10 augmented batches, what wobbles "
                 "(Wu and Johnson 2021, section 3)?", rule=TWO_STANDARD_ERRORS),
    "05_search-augment": Ablation("05_search", (
        Variant("shift ±2 px", {"max_shift": 2},
                "each training digit also moved by up to 2 whole pixels along x and y (Step 4's recipe)"),
    ), recipe=SEARCH_5000, base_name="search winner", seeds=FIVE,
        about="Step 4's shift on Step 5's winner under 5,000 parameters, over 5 seeds",
        question="Does Step 4's shift carry to the winner under 5,000 parameters, which fits its training "
                 "writers better than new ones?", rule=ONE_IMAGE),
    "05_search-fold1": Ablation("05_search", (
        Variant("Step 4's design", {"before_pool": [8, 16], "transition": 8, "after_pool": [12, 16, 16],
                                    "last_padding": 1, "head": "conv", "separable": "none"},
                "Step 4's layers (7,824 parameters) as a point of Step 5's space, trained the same way"),
    ), recipe=SEARCH_5000, base_name="search winner", seeds=FIVE, val_fold=1,
        about="the winner under 5,000 parameters and Step 4's design, validated on fold 1, over 5 seeds",
        question="The search kept the best of many models by the same 5,000 validation images (the winner's "
                 "curse; Cawley and Talbot, JMLR 2010): does the winner's lead over Step 4 hold on images no "
                 "search scored?"),
    "05_search-candidates": Ablation("05_search", (
        Variant("Step 4 separable", {"before_pool": [8, 16], "transition": 8, "after_pool": [24, 32, 32],
                                     "separable": "after_pool"},
                "trial 75, the warm start: Step 4 with its 3 convolutions after the pool separable and "
                "widened (4,456 parameters)"),
        Variant("Step 4 narrowed", {"before_pool": [6, 14], "transition": 6, "after_pool": [10, 14, 14],
                                    "separable": "none"},
                "trial 0, the warm start: Step 4 with the GAP -> 1x1 head, narrowed by hand to fit "
                "(4,714 parameters)"),
        Variant("trial 54", {"before_pool": [20, 4], "transition": 8, "after_pool": [8, 16, 6, 16],
                             "separable": "none", "lr": 0.17871715713534303},
                "the search's best proxy run, the one candidate it chose itself: 20-4 | 8 | 8-16-6-16, "
                "peak lr 0.179 (4,688 parameters)"),
    ), recipe=SEARCH_5000, base_name="search winner", seeds=FIVE, val_fold=1,
        about="the 5,000 budget's confirmed candidates against its winner, validated on fold 1, over 5 seeds",
        question="Would a better confirmation have picked another candidate? If a row clears the rule, the "
                 "next search confirms on fold 1 with more seeds.", rule=TWO_STANDARD_ERRORS_ALONE),
    "05_search-block": Ablation("05_search", (
        Variant("BN before ReLU", {"bn_first": True},
                "every block of the winner conv -> BatchNorm -> ReLU (the separable ones: depthwise -> "
                "pointwise -> BatchNorm -> ReLU)"),
    ), recipe=SEARCH_5000, base_name="search winner", seeds=FIVE, val_fold=1,
        about="Step 4's nearest miss, BatchNorm before ReLU, on the winner under 5,000 parameters, "
              "validated on fold 1, over 5 seeds",
        question="Does Step 4's nearest miss carry to the winner? If it clears the rule, the next search "
                 "searches the block order.", rule=TWO_STANDARD_ERRORS_ALONE),
    "05_search-elastic": Ablation("05_search", (
        Variant("elastic α 25, σ 5", {"elastic_alpha": 25.0, "elastic_sigma": 5.0},
                "an elastic distortion after the rotation: a random field blurred by a Gaussian of 5 px, "
                "times 25 px (torchvision's default ElasticTransform)"),
    ), recipe=SEARCH_5000, base_name="search winner", seeds=FIVE, val_fold=1,
        about="an elastic distortion on the winner under 5,000 parameters, validated on fold 1, over 5 seeds",
        question="The winner fits its training digits furthest beyond the test digits: does a distortion "
                 "that imitates other writers help it? If it clears the rule, the next search trains with it.",
        rule=TWO_STANDARD_ERRORS),
    "05_search-distill": Ablation("05_search", (_TAUGHT,), recipe=SEARCH_5000, base_name="search winner",
        seeds=FIVE, val_fold=1,
        about="knowledge distillation from a 12x larger teacher into the winner under 5,000 parameters, "
              "validated on fold 1, over 5 seeds",
        question="Step 4's teacher, on the winner under 5,000 parameters (12x smaller than it). If it clears "
                 "the rule, the winner is trained with it: Step 6.", rule=TWO_STANDARD_ERRORS),
    "05_search-distill4000": Ablation("05_search", (_TAUGHT,), recipe=SEARCH_4000, base_name="winner under 4,000",
        seeds=FIVE, val_fold=1,
        about="knowledge distillation from a 14x larger teacher into the winner under 4,000 parameters, "
              "validated on fold 1, over 5 seeds",
        question="Does Step 6's teacher carry to the winner under 4,000 parameters? If it clears the rule, "
                 "that winner is trained with it: Step 7.", rule=TWO_STANDARD_ERRORS),
    "05_search-distill3000": Ablation("05_search", (_TAUGHT,), recipe=SEARCH_3000, base_name="winner under 3,000",
        val_fold=1,
        about="knowledge distillation from a 20x larger teacher into the winner under 3,000 parameters, "
              "validated on fold 1, over 3 seeds",
        question="Reference 5 reaches 99.52% (one run) with 3,762 parameters; the course's only searched model "
                 "below that size is the winner under 3,000. Does Step 6's teacher carry to it? If it clears "
                 "the rule, that winner is trained with it in Step 7.", rule=TWO_STANDARD_ERRORS),
    "05_search-r5recipe": Ablation("05_search", (
        Variant("batch 32", {"batch_size": 32}, "reference 5's batch: twice the optimizer steps of batch 64"),
        Variant("scale ±9%", {"max_scale": 0.09}, "each training digit also scaled by up to ±9%, in the "
                "rotation's resampling, as reference 5's ShiftScaleRotate scales"),
        Variant("brightness/contrast ±20%", {"brightness": 0.2, "contrast": 0.2},
                "with probability 1/2 per digit, its pixel values times 1 ± 0.2 and plus ± 0.2, as "
                "reference 5's RandomBrightnessContrast"),
    ), recipe=SEARCH_4000, base_name="winner under 4,000", val_fold=1,
        about="three parts of reference 5's recipe on the winner under 4,000 parameters, validated on "
              "fold 1, over 3 seeds",
        question="Reference 5 (3,762 parameters) trains with batch 32, a scale and a brightness/contrast "
                 "change that the course's recipe lacks: does any of them help the course's model of the same "
                 "size? If one clears the rule, the next search trains with it.", rule=TWO_STANDARD_ERRORS),
    "06_teacher-weight": Ablation("06_teacher", (
        Variant("teacher's share 0.9", {"distill_weight": 0.9},
                "nine tenths of the loss from the teacher's soft targets, a tenth from the labels"),
    ), base_name="Step 6's recipe", seeds=FIVE, val_fold=1,
        about="the teacher's share of Step 6's loss, validated on fold 1, over 5 seeds",
        question="Hinton et al. (2015, section 2.1) weight the labels far lower, as does HobbitLong/"
                 "RepDistiller's baseline (README.md: -r 0.1 -a 0.9): does the teacher's share of 0.9 help?",
        rule=TWO_STANDARD_ERRORS),
    "06_teacher-precisebn": Ablation("06_teacher", (Variant("PreciseBN", {"precise_bn": True}, _PRECISE_BN),),
        base_name="Step 6's recipe", seeds=FIVE, val_fold=1,
        about="BatchNorm statistics recomputed over the training images after every epoch (PreciseBN), "
              "on Step 6's recipe, validated on fold 1, over 5 seeds",
        question="Step 4's evaluation lever on Step 6's recipe: nothing tuned, no second look.",
        rule=TWO_STANDARD_ERRORS),
}
