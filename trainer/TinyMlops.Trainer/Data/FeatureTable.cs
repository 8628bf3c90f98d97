using System;
using System.Collections.Generic;
using System.Linq;
using TinyMlops.Firmware.Core.Features;

namespace TinyMlops.Trainer.Data;

/// <summary>One window's features with where it came from.</summary>
public sealed record FeatureRow(float[] Features, string Label, string RecordingId, string Group);

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
    public static List<FeatureRow> Build(IReadOnlyList<Recording> recordings, double rateHz, int window, int hop, int bands, IProgress<string>? progress = null)
    {
        var rows = new List<FeatureRow>[recordings.Count];
        int done = 0;
        System.Threading.Tasks.Parallel.For(0, recordings.Count, i =>
        {
            Recording r = recordings[i].ResampledTo(rateHz);
            var fx = new FeatureExtractor(window, bands, SystemFloatMath.Instance);
            var list = new List<FeatureRow>();
            for (int start = 0; start + window <= r.X.Length; start += hop)
            {
                float[] x = r.X[start..(start + window)], y = r.Y[start..(start + window)], z = r.Z[start..(start + window)];
                var f = new float[fx.FeatureCount];
                if (fx.Compute(x, y, z, f) == FeatureExtractor.StatusOk)
                {
                    list.Add(new FeatureRow(f, r.Label, r.Id, r.Group));
                }
            }

            rows[i] = list;
            int n = System.Threading.Interlocked.Increment(ref done);
            if (n % 10 == 0 || n == recordings.Count)
            {
                progress?.Report($"features: {n}/{recordings.Count} recordings");
            }
        });

        return rows.SelectMany(r => r).ToList();
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
