"""One representation of a leaderboard entry: the API, the CSV export and the page all use it."""
from rest_framework import serializers


class VerificationSerializer(serializers.Serializer):
    """A row's verification: an evaluation job that re-scored the row's checkpoint on the validation split."""

    status = serializers.ChoiceField(choices=["verified", "mismatch", "pending", "failed"],
                                     help_text="verified: re-scored within the tolerance; mismatch: beyond it; "
                                     "pending: the evaluation has not finished; failed: it did not score.")
    evaluation_id = serializers.CharField(help_text="The evaluation that re-scores the row (/api/evaluations/<id>).")
    checkpoint = serializers.IntegerField(help_text="The checkpoint it re-scores (the run's best stored one).")
    metric = serializers.CharField(allow_null=True, help_text="What is verified: top-1 (accuracy_top-1), or mAP "
                                   "for a multi-label run.")
    reported = serializers.FloatField(allow_null=True, help_text="The number the run reported.")
    rescored = serializers.FloatField(allow_null=True, help_text="The number the evaluation re-scored (null until "
                                      "it has succeeded).")
    difference = serializers.FloatField(allow_null=True, help_text="rescored - reported, in percentage points.")
    tolerance = serializers.FloatField(help_text="The largest |difference| still verified, in percentage points.")
    mismatch = serializers.BooleanField(help_text="The re-scored number differs from the reported one by more "
                                        "than the tolerance.")
    finished_at = serializers.DateTimeField(allow_null=True)


class LeaderboardEntrySerializer(serializers.Serializer):
    spec = serializers.CharField(help_text="Library spec name, or 'pasted:<hash>' for a pasted spec; a sweep's "
                                 "trial names its sweep's spec (its parameters are in params).")
    model = serializers.CharField()
    family = serializers.CharField(allow_blank=True)
    params_m = serializers.FloatField(allow_null=True, help_text="Params (M), from the model zoo entry.")
    flops_g = serializers.FloatField(allow_null=True, help_text="FLOPs (G), from the model zoo entry.")
    top1 = serializers.FloatField(allow_null=True)
    top5 = serializers.FloatField(allow_null=True)
    ref_top1 = serializers.FloatField(allow_null=True, help_text="The zoo's published top-1 of this spec.")
    ref_top5 = serializers.FloatField(allow_null=True)
    epochs = serializers.IntegerField(allow_null=True, help_text="Epochs the run trained (an early-stopped trial's "
                                      "1 of 6 is 1); null for an iteration-based run (see length).")
    train_seconds = serializers.FloatField(allow_null=True)
    created_by = serializers.CharField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    dataset = serializers.CharField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    run_id = serializers.CharField(allow_null=True)
    runs = serializers.IntegerField(help_text="Runs of this spec on this dataset.")
    reference = serializers.BooleanField(help_text="A published row of the model zoo, not a team's run.")
    metric = serializers.CharField(allow_null=True, help_text="The metric the run is ranked by (its spec's "
                                   "primary metric: accuracy_top-1, mAP...).")
    best = serializers.FloatField(allow_null=True, help_text="The run's best value of that metric.")
    length = serializers.IntegerField(allow_null=True, help_text="How far the run trained, in its unit.")
    unit = serializers.CharField(allow_null=True, help_text="'epoch' or 'iter' (epochs are also in epochs).")
    planned_length = serializers.IntegerField(allow_null=True, help_text="The spec's length in that unit "
                                              "(max_epochs or max_iters).")
    early_stopped = serializers.BooleanField(help_text="A sweep's scheduler stopped this trial early.")
    params = serializers.JSONField(allow_null=True, help_text="A sweep trial's parameters by dotted key (null for "
                                   "a run of its own): trials of other parameters are other rows.")
    sweep_id = serializers.CharField(allow_null=True, help_text="A trial's sweep (null for a run of its own).")
    verification = VerificationSerializer(allow_null=True, help_text="The row's latest verification (the latest "
                                          "succeeded one if any); null if never verified.")


class LeaderboardSerializer(serializers.Serializer):
    results = LeaderboardEntrySerializer(many=True)
    references = LeaderboardEntrySerializer(many=True)
    pareto = serializers.ListField(child=serializers.CharField(), help_text="run_ids on the FLOPs/top-1 front")


CSV_FIELDS = list(LeaderboardEntrySerializer().fields)


class VerifyRequestSerializer(serializers.Serializer):
    """What ``POST /api/leaderboard/verify`` takes: the row's run."""

    run = serializers.UUIDField(help_text="The row's run_id.")
    num_workers = serializers.IntegerField(default=2, min_value=1, help_text="Ray workers, one shard each.")
