using System;
using System.Collections.Generic;
using System.Linq;

namespace TinyMlops.Trainer;

/// <summary>
/// A card figure with the evidence behind it: the value on the evaluated windows, a 95 % interval from a bootstrap
/// over recordings (windows of one recording are not independent, so whole recordings are resampled), and how many
/// windows and recordings it rests on. Low and High are NaN ("not estimable") when the figure rests on fewer than two
/// recordings (of each condition, for a ROC-AUC): resampling one recording says nothing about the next one.
/// </summary>
/// <param name="Name">What it measures.</param>
/// <param name="Value">The figure.</param>
/// <param name="Low">2.5th percentile of the bootstrap.</param>
/// <param name="High">97.5th percentile.</param>
/// <param name="Windows">Windows the figure counts (e.g. fault windows for a recall).</param>
/// <param name="Recordings">Recordings those windows come from.</param>
/// <param name="Resamples">Bootstrap resamples in which the figure could be computed.</param>
public sealed record CardFigure(string Name, double Value, double Low, double High, int Windows, int Recordings, int Resamples);

/// <summary>The figures of a held-out set of windows and their bootstrap intervals. Deterministic for a seed.</summary>
public sealed class HeldOutFigures
{
    /// <summary>Bootstrap resamples per figure.</summary>
    public const int Resamples = 1000;

    private readonly string[] _recording;
    private readonly int[][] _byRecording;
    private readonly int _seed;

    /// <summary>Windows described by the recording each comes from.</summary>
    public HeldOutFigures(IReadOnlyList<string> recordingOfWindow, int seed)
    {
        _recording = recordingOfWindow.ToArray();
        _byRecording = Enumerable.Range(0, _recording.Length).GroupBy(i => _recording[i], StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();
        _seed = seed;
    }

    /// <summary>
    /// <paramref name="statistic"/> on all windows and on <see cref="Resamples"/> resamples of the recordings;
    /// <paramref name="counts"/> says which windows the figure rests on (for its counts). The statistic returns NaN
    /// where it is undefined on a resample; those resamples are left out.
    /// </summary>
    public CardFigure Figure(string name, Func<int[], double> statistic, Func<int, bool>? counts = null, int? leastRecordings = null)
    {
        int[] all = Enumerable.Range(0, _recording.Length).ToArray();
        int[] counted = counts == null ? all : all.Where(counts).ToArray();
        int recordings = counted.Select(i => _recording[i]).Distinct(StringComparer.Ordinal).Count();
        if ((leastRecordings ?? recordings) < 2)
        {
            return new CardFigure(name, statistic(all), double.NaN, double.NaN, counted.Length, recordings, 0);
        }

        double value = statistic(all);
        var rng = new Random(unchecked(_seed * 31 + StableHash(name)));
        var samples = new List<double>(Resamples);
        var pick = new List<int>(_recording.Length);
        for (int b = 0; b < Resamples; b++)
        {
            pick.Clear();
            for (int r = 0; r < _byRecording.Length; r++)
            {
                pick.AddRange(_byRecording[rng.Next(_byRecording.Length)]);
            }

            double s = statistic(pick.ToArray());
            if (!double.IsNaN(s))
            {
                samples.Add(s);
            }
        }

        if (samples.Count < Resamples / 2 || double.IsNaN(value))
        {
            return new CardFigure(name, value, double.NaN, double.NaN, counted.Length, recordings, samples.Count);
        }

        samples.Sort();
        return new CardFigure(name, value, Percentile(samples, 0.025), Percentile(samples, 0.975), counted.Length, recordings, samples.Count);
    }

    /// <summary>
    /// The figures every card and evaluation reports for the two tiers on held-out windows. <paramref name="floatScores"/>
    /// and <paramref name="predictedInt8"/> may be null where there is no float detector or int8 verifier to report.
    /// </summary>
    public CardFigure[] Standard(bool[] fault, double[]? floatScores, double[] int8Scores, bool[] int8Flag, int[] truth, int[] predictedFloat, int[]? predictedInt8, string[] classes, int healthyIndex)
    {
        var list = new List<CardFigure>();
        int Recordings(bool ofFault) => Enumerable.Range(0, fault.Length).Where(i => fault[i] == ofFault).Select(i => _recording[i]).Distinct(StringComparer.Ordinal).Count();
        int least = Math.Min(Recordings(true), Recordings(false)); // a ROC-AUC needs both conditions in every resample
        if (floatScores != null)
        {
            list.Add(Figure("detector ROC-AUC (float)", RocAuc(floatScores, fault), leastRecordings: least));
        }

        list.Add(Figure("detector ROC-AUC (int8)", RocAuc(int8Scores, fault), leastRecordings: least));
        list.Add(Figure("detector recall (int8)", Rate(i => fault[i], i => int8Flag[i]), i => fault[i]));
        list.Add(Figure("detector false-alarm rate (int8)", Rate(i => !fault[i], i => int8Flag[i]), i => !fault[i]));
        list.Add(Figure("verifier macro-F1 (float)", MacroF1(truth, predictedFloat, classes), i => truth[i] >= 0));
        if (predictedInt8 != null)
        {
            list.Add(Figure("verifier macro-F1 (int8)", MacroF1(truth, predictedInt8, classes), i => truth[i] >= 0));
        }

        list.Add(Figure("cascade fault recall", Rate(i => fault[i], i => int8Flag[i] && predictedFloat[i] != healthyIndex), i => fault[i]));
        list.Add(Figure("cascade false-alarm rate", Rate(i => !fault[i], i => int8Flag[i] && predictedFloat[i] != healthyIndex), i => !fault[i]));
        return list.ToArray();
    }

    /// <summary>
    /// Refuses a split on which the detector cannot be judged: it needs healthy windows (false alarms) and fault
    /// windows (recall, ROC-AUC). Says which groups the split holds, so the user can see what to add.
    /// </summary>
    /// <exception cref="System.IO.InvalidDataException">The split holds only one condition.</exception>
    public static void RequireBothConditions(string split, bool[] fault, IEnumerable<string> groups)
    {
        int faults = fault.Count(f => f);
        if (faults == 0 || faults == fault.Length)
        {
            throw new System.IO.InvalidDataException(
                $"the {split} split ({string.Join(", ", groups.Distinct().OrderBy(g => g, StringComparer.Ordinal))}: {fault.Length} windows) holds no {(faults == 0 ? "fault" : "healthy")} window, " +
                $"so {(faults == 0 ? "recall and ROC-AUC" : "the false-alarm rate and ROC-AUC")} cannot be measured: give healthy and fault recordings in several groups " +
                "(group= in a TinyMlops CSV header; by default each file is its own group), or try another --seed");
        }
    }

    /// <summary>Share of <paramref name="positive"/> windows among <paramref name="of"/> windows; NaN when there are none.</summary>
    public static Func<int[], double> Rate(Func<int, bool> of, Func<int, bool> positive) => idx =>
    {
        int n = 0, k = 0;
        foreach (int i in idx)
        {
            if (of(i))
            {
                n++;
                k += positive(i) ? 1 : 0;
            }
        }

        return n == 0 ? double.NaN : (double)k / n;
    };

    /// <summary>ROC-AUC of <paramref name="scores"/> against <paramref name="fault"/>; NaN unless both classes are present.</summary>
    public static Func<int[], double> RocAuc(double[] scores, bool[] fault) =>
        idx => Metrics.RocAuc(idx.Select(i => scores[i]).ToArray(), idx.Select(i => fault[i]).ToArray());

    /// <summary>Macro-F1 of <paramref name="predicted"/> against <paramref name="truth"/> (−1 = unknown class, left out).</summary>
    public static Func<int[], double> MacroF1(int[] truth, int[] predicted, string[] classes) => idx =>
        idx.Any(i => truth[i] >= 0) ? Metrics.Multiclass(idx.Select(i => truth[i]).ToArray(), idx.Select(i => predicted[i]).ToArray(), classes).MacroF1 : double.NaN;

    private static double Percentile(List<double> sorted, double q)
    {
        double at = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(at), hi = (int)Math.Ceiling(at);
        return sorted[lo] + ((sorted[hi] - sorted[lo]) * (at - lo));
    }

    private static int StableHash(string s)
    {
        unchecked
        {
            int h = 17;
            foreach (char c in s)
            {
                h = (h * 31) + c;
            }

            return h;
        }
    }
}
