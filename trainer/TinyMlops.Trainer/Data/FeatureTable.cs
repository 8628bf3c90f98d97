using System;
using System.Collections.Generic;
using System.Linq;
using TinyMlops.Firmware.Core.Features;

namespace TinyMlops.Trainer.Data;

/// <summary>One window's features with where it came from.</summary>
public sealed record FeatureRow(float[] Features, string Label, string RecordingId, string Group);

/// <summary>
/// How a node turns its features into model inputs against its own healthy baseline (the board's
/// <c>sampling.baselineWindows</c> and <c>baselineSmoothing</c>; <see cref="HealthyBaseline"/>).
/// </summary>
/// <param name="Windows">Windows the baseline is learned over, from the start of the group's healthy recording.</param>
/// <param name="Smoothing">Windows averaged into each input.</param>
public sealed record BaselinePlan(int Windows, int Smoothing);

/// <summary>Which split a recording's group went to.</summary>
public enum Split
{
    /// <summary>Fits the models.</summary>
    Train,

    /// <summary>Chooses thresholds.</summary>
    Validation,

    /// <summary>Reports the figures.</summary>
    Test,
}

/// <summary>
/// Windows and features of a dataset at a board's rate, computed with the firmware core's
/// <see cref="FeatureExtractor"/>, and the split of its recordings by group.
/// </summary>
public static class FeatureTable
{
    /// <summary>
    /// Resamples each recording to <paramref name="rateHz"/>, cuts windows of <paramref name="window"/> samples every
    /// <paramref name="hop"/> samples and computes their features. Order: recordings as given, windows in time.
    /// </summary>
    /// <remarks>
    /// With a <paramref name="baseline"/>, rows hold what a node fitted at the group's operating point feeds its model:
    /// each group (operating point) learns a <see cref="HealthyBaseline"/> from the first
    /// <see cref="BaselinePlan.Windows"/> non-overlapping windows of its healthy recording, as a node does after
    /// commissioning; those samples give no row (the baseline saw them); every other window becomes its baseline
    /// inputs, smoothed over the windows a node would have seen just before it (one window apart, in the same
    /// recording). A group without a healthy recording cannot be judged this way and is an error.
    /// </remarks>
    public static List<FeatureRow> Build(IReadOnlyList<Recording> recordings, double rateHz, int window, int hop, int bands, IProgress<string>? progress = null, BaselinePlan? baseline = null)
    {
        if (baseline == null)
        {
            return BuildRaw(recordings, rateHz, window, hop, bands, progress).SelectMany(r => r.Select(w => w.Row)).ToList();
        }

        if (window % hop != 0)
        {
            throw new ArgumentException($"baseline inputs need a hop ({hop}) that divides the window ({window})");
        }

        List<(int Start, FeatureRow Row)>[] raw = BuildRaw(recordings, rateHz, window, hop, bands, progress);
        int features = raw.SelectMany(r => r).Select(w => w.Row.Features.Length).FirstOrDefault();
        var learned = new Dictionary<string, (HealthyBaseline Baseline, int Source)>(StringComparer.Ordinal);
        foreach (IGrouping<string, int> group in Enumerable.Range(0, recordings.Count).GroupBy(i => recordings[i].Group))
        {
            int source = group.Where(i => recordings[i].Healthy).OrderBy(i => recordings[i].Id, StringComparer.Ordinal).DefaultIfEmpty(-1).First();
            if (source < 0)
            {
                throw new System.IO.InvalidDataException($"group {group.Key} has no healthy recording to learn a node's baseline from");
            }

            var b = new HealthyBaseline(features, baseline.Windows, baseline.Smoothing);
            foreach ((int start, FeatureRow row) in raw[source].Where(w => w.Start % window == 0 && w.Start < baseline.Windows * window))
            {
                b.Learn(row.Features, SystemFloatMath.Instance);
            }

            if (!b.IsReady)
            {
                throw new System.IO.InvalidDataException($"{recordings[source].Id} is too short to learn a baseline of {baseline.Windows} windows of {window} samples");
            }

            learned[group.Key] = (b, source);
        }

        var result = new List<FeatureRow>();
        for (int i = 0; i < recordings.Count; i++)
        {
            (HealthyBaseline b, int source) = learned[recordings[i].Group];
            int from = i == source ? baseline.Windows * window : 0;
            // One node per phase of the window grid: its windows are one window apart, each smoothed over its own past.
            var phases = new HealthyBaseline[window / hop];
            var previous = new int[phases.Length];
            foreach ((int start, FeatureRow row) in raw[i].Where(w => w.Start >= from))
            {
                int phase = start / hop % phases.Length;
                HealthyBaseline node = phases[phase] ??= b.Copy();
                if (start - previous[phase] != window)
                {
                    node.RestartSmoothing(); // a window dropped between (non-finite samples): the node starts again too
                }

                previous[phase] = start;
                var inputs = new float[b.InputLength];
                node.Normalise(row.Features, inputs);
                result.Add(row with { Features = inputs });
            }
        }

        return result;
    }

    private static List<(int Start, FeatureRow Row)>[] BuildRaw(IReadOnlyList<Recording> recordings, double rateHz, int window, int hop, int bands, IProgress<string>? progress)
    {
        var rows = new List<(int Start, FeatureRow Row)>[recordings.Count];
        int done = 0;
        System.Threading.Tasks.Parallel.For(0, recordings.Count, i =>
        {
            Recording r = recordings[i].ResampledTo(rateHz);
            var fx = new FeatureExtractor(window, bands, SystemFloatMath.Instance);
            var list = new List<(int Start, FeatureRow Row)>();
            for (int start = 0; start + window <= r.X.Length; start += hop)
            {
                float[] x = r.X[start..(start + window)], y = r.Y[start..(start + window)], z = r.Z[start..(start + window)];
                var f = new float[fx.FeatureCount];
                if (fx.Compute(x, y, z, f) == FeatureExtractor.StatusOk)
                {
                    list.Add((start, new FeatureRow(f, r.Label, r.Id, r.Group)));
                }
            }

            rows[i] = list;
            int n = System.Threading.Interlocked.Increment(ref done);
            if (n % 10 == 0 || n == recordings.Count)
            {
                progress?.Report($"features: {n}/{recordings.Count} recordings");
            }
        });

        return rows;
    }

    /// <summary>
    /// Assigns whole groups (operating points) to train / validation / test: groups in ordinal order, shuffled with
    /// <paramref name="seed"/>, then 60 / 20 / 20 % with at least one group in each split.
    /// </summary>
    public static Dictionary<string, Split> SplitGroups(IEnumerable<string> groups, int seed)
    {
        string[] g = groups.Distinct().OrderBy(s => s, StringComparer.Ordinal).ToArray();
        if (g.Length < 3)
        {
            throw new ArgumentException($"a split by recording needs at least 3 groups (operating points), got {g.Length}");
        }

        var rng = new Random(seed);
        for (int i = g.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (g[i], g[j]) = (g[j], g[i]);
        }

        int test = Math.Max(1, (int)Math.Round(g.Length * 0.2));
        int validation = Math.Max(1, (int)Math.Round(g.Length * 0.2));
        var result = new Dictionary<string, Split>(StringComparer.Ordinal);
        for (int i = 0; i < g.Length; i++)
        {
            result[g[i]] = i < test ? Split.Test : i < test + validation ? Split.Validation : Split.Train;
        }

        return result;
    }
}
