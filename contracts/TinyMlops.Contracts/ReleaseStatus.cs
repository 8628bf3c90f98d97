namespace TinyMlops.Contracts;

/// <summary>
/// A gateway's report of one step of installing a release (<c>POST /api/releases/status</c> on the trainer):
/// <c>fetched</c>, <c>verified</c>, <c>downloaded</c>, <c>shadow_waiting</c>, <c>shadow_passed</c>, <c>shadow_skipped</c> (no verifier installed yet), <c>promoted</c>,
/// <c>running</c>, <c>refused</c> or <c>rolled_back</c>, with a line of detail (why, for a refusal).
/// </summary>
public sealed record ReleaseStatusReport(int BoardClass, long Sequence, string Step, string Detail)
{
    /// <summary>Longest detail the trainer keeps.</summary>
    public const int MaxDetail = 1000;

    /// <summary>True when the step is 1-32 lower-case letters or '_', and the detail at most <see cref="MaxDetail"/> characters.</summary>
    public bool IsWellFormed =>
        Step is { Length: >= 1 and <= 32 } && System.Linq.Enumerable.All(Step, c => c is (>= 'a' and <= 'z') or '_') && Detail is { Length: <= MaxDetail } && Sequence > 0;
}
