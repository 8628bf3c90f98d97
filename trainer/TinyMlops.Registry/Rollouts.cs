using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security.Cryptography;
using System.Text;

namespace TinyMlops.Registry;

/// <summary>A staged rollout of one release.</summary>
/// <param name="Groups">Cumulative group sizes, as given: a node count (<c>1</c>) or a share of the nodes (<c>10%</c>).</param>
/// <param name="SuccessThreshold">Share of a group's nodes that must confirm before the next group starts.</param>
/// <param name="AbortFailureRate">Share of a group's nodes failing that aborts the rollout.</param>
/// <param name="State"><c>running</c>, <c>paused</c>, <c>aborted</c> or <c>completed</c>.</param>
/// <param name="CurrentGroup">Index of the group being rolled out.</param>
/// <param name="Reason">Why it is in its state (who paused it, why it aborted).</param>
public sealed record Rollout(long Id, int BoardClass, long Sequence, string Version, IReadOnlyList<string> Groups, double SuccessThreshold, double AbortFailureRate,
    string State, int CurrentGroup, DateTimeOffset Created, DateTimeOffset Updated, string Reason);

/// <summary>A node in a rollout, as its gateway last reported it.</summary>
/// <param name="State">The gateway relay's state (<c>waiting</c>, <c>offered</c>, <c>downloading</c>, <c>confirmed</c>, <c>failed</c>), or <c>pending</c> when not yet admitted.</param>
/// <param name="Group">The group it belongs to (by its place in the rollout's order).</param>
public sealed record RolloutNode(string Gateway, string Node, string State, int Attempts, string? LastError, DateTimeOffset Updated, int Group);

/// <summary>
/// Group arithmetic of staged rollouts, as hawkBit and AWS IoT Jobs stage them: nodes are put in a fixed order (by
/// SHA-256 of their id, so a group is a spread of the fleet rather than its first names), group <c>k</c> is the
/// first <c>size(k)</c> of them, and a group's share of confirmed and failed nodes decides whether the rollout
/// advances, waits, or aborts.
/// </summary>
public static class RolloutPlan
{
    /// <summary>States a node ends in.</summary>
    public static bool IsFinished(string state) => state is "confirmed" or "failed";

    /// <summary>Parses a group list such as <c>1,10%,50%,100%</c>; throws <see cref="ArgumentException"/> saying what is wrong.</summary>
    public static string[] ParseGroups(string text)
    {
        string[] groups = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (groups.Length is 0 or > 20 || groups.Any(g => !TrySize(g, 1000, out _)))
        {
            throw new ArgumentException($"groups '{text}' must be 1..20 comma-separated node counts (5) or shares (10%), e.g. 1,10%,50%,100%");
        }

        if (groups[^1] != "100%")
        {
            groups = [.. groups, "100%"]; // a rollout ends with every node
        }

        return groups;
    }

    /// <summary>Cumulative node counts of <paramref name="groups"/> over <paramref name="nodes"/> nodes (non-decreasing, the last all of them).</summary>
    public static int[] Sizes(IReadOnlyList<string> groups, int nodes)
    {
        var sizes = new int[groups.Count];
        for (int i = 0; i < groups.Count; i++)
        {
            TrySize(groups[i], nodes, out int n);
            sizes[i] = Math.Clamp(Math.Max(n, i == 0 ? 0 : sizes[i - 1]), 0, nodes);
        }

        sizes[^1] = nodes;
        return sizes;
    }

    /// <summary>The rollout order of node ids.</summary>
    public static List<string> Order(IEnumerable<string> nodes) =>
        nodes.Distinct(StringComparer.Ordinal).OrderBy(n => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(n))), StringComparer.Ordinal).ThenBy(n => n, StringComparer.Ordinal).ToList();

    private static bool TrySize(string g, int nodes, out int size)
    {
        size = 0;
        if (g.EndsWith('%'))
        {
            if (double.TryParse(g[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out double p) && p is > 0 and <= 100)
            {
                size = (int)Math.Ceiling(p / 100 * nodes);
                return true;
            }

            return false;
        }

        return int.TryParse(g, NumberStyles.None, CultureInfo.InvariantCulture, out size) && size >= 1;
    }
}

/// <summary>A rollout with each of its nodes, as <c>tinymlops rollout status</c> shows it.</summary>
public sealed record RolloutView(Rollout Rollout, IReadOnlyList<RolloutNode> Nodes);
