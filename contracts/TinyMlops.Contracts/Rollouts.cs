using System.Collections.Generic;

namespace TinyMlops.Contracts;

/// <summary>One node in a gateway's rollout report: the relay's state for it, offers sent, and its last error.</summary>
/// <param name="State"><c>pending</c> (not admitted), <c>waiting</c>, <c>offered</c>, <c>downloading</c>, <c>confirmed</c> or <c>failed</c>.</param>
public sealed record RolloutNodeReport(string Node, string State, int Attempts, string? LastError);

/// <summary>
/// A gateway's report of its nodes for an installed release (<c>POST /api/rollouts/report</c>): every node of the
/// board class it serves, admitted or not, so the trainer can form the rollout's groups over the whole fleet.
/// </summary>
public sealed record RolloutReport(int BoardClass, long Sequence, IReadOnlyList<RolloutNodeReport> Nodes)
{
    /// <summary>Most nodes one report may carry.</summary>
    public const int MaxNodes = 10_000;

    /// <summary>True when the report is within bounds and every node id and state is well formed.</summary>
    public bool IsWellFormed
    {
        get
        {
            if (Sequence <= 0 || Nodes == null || Nodes.Count > MaxNodes)
            {
                return false;
            }

            foreach (RolloutNodeReport n in Nodes)
            {
                if (n == null || !RecordNames.IsValidId(n.Node) || n.State is not ("pending" or "waiting" or "offered" or "downloading" or "confirmed" or "failed")
                    || n.Attempts < 0 || (n.LastError?.Length ?? 0) > ReleaseStatusReport.MaxDetail)
                {
                    return false;
                }
            }

            return true;
        }
    }
}

/// <summary>The trainer's answer to a rollout report: the rollout (null when the release has none), its state, and the gateway's nodes admitted now.</summary>
/// <param name="State"><c>none</c>, <c>running</c>, <c>paused</c>, <c>aborted</c> or <c>completed</c>.</param>
public sealed record RolloutAdmission(long? RolloutId, string State, IReadOnlyList<string> Admitted);
