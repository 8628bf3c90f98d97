using System;
using System.Collections.Generic;
using System.Linq;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Quantization;
using TinyMlops.Trainer.Data;
using TinyMlops.Trainer.Models;

namespace TinyMlops.Trainer;

/// <summary>One held-out group of a leave-one-group-out run.</summary>
/// <param name="Group">The group held out.</param>
/// <param name="ValidationGroup">The group its detector threshold was set on.</param>
/// <param name="Windows">Held-out windows.</param>
/// <param name="FaultWindows">Of those, fault windows.</param>
/// <param name="DetectorRecall">Share of fault windows the int8 detector flagged (NaN without fault windows).</param>
/// <param name="DetectorFalseAlarmRate">Share of healthy windows it flagged (NaN without healthy windows).</param>
/// <param name="VerifierAccuracy">Share of known-class windows the float verifier classed right (NaN when none).</param>
public sealed record CvFold(string Group, string ValidationGroup, int Windows, int FaultWindows, double DetectorRecall, double DetectorFalseAlarmRate, double VerifierAccuracy);

/// <summary>Leave-one-group-out figures: each fold, and every window's held-out prediction pooled, with intervals.</summary>
/// <param name="Scheme">How the folds were made.</param>
/// <param name="Folds">Each held-out group.</param>
/// <param name="Pooled">Figures over every window, each predicted by the models that never saw its group.</param>
public sealed record CrossValidationCard(string Scheme, CvFold[] Folds, CardFigure[] Pooled);

/// <summary>
/// <c>--cv groups</c>: for every group, the detector (PCA, int8 through the firmware core) and the float verifier are
/// trained without it and judged on it; the detector's threshold comes from the next group (in order) that has healthy
/// windows. A single split's figure may be one operating point's luck; this says how much the figures move from group
/// to group. The int8 verifier's quantisation-aware tuning is not repeated per fold (the single split measures it).
/// </summary>
public static class CrossValidation
{
    /// <summary>Runs the folds over <paramref name="rows"/>.</summary>
    public static CrossValidationCard Run(IReadOnlyList<FeatureRow> rows, TrainOptions o, BoardProfile board, IProgress<string>? progress)
    {
        string[] groups = rows.Select(r => r.Group).Distinct().OrderBy(g => g, StringComparer.Ordinal).ToArray();
        if (groups.Length < 3)
        {
            throw new ArgumentException($"leave-one-group-out needs at least 3 groups, got {groups.Length}");
        }

        var folds = new List<CvFold>();
        int n = rows.Count;
        var int8Scores = new double[n];
        var flags = new bool[n];
        var truth = new int[n];
        var predicted = new int[n];
        string[] allClasses = rows.Select(r => r.Label).Distinct().OrderBy(c => c == Dataset.HealthyLabel ? "" : c, StringComparer.Ordinal).ToArray();
        var index = new Dictionary<FeatureRow, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < n; i++)
        {
            index[rows[i]] = i;
        }

        for (int g = 0; g < groups.Length; g++)
        {
            string held = groups[g];
            string? validationGroup = Enumerable.Range(1, groups.Length - 1).Select(k => groups[(g + k) % groups.Length])
                .FirstOrDefault(v => rows.Any(r => r.Group == v && r.Label == Dataset.HealthyLabel));
            if (validationGroup == null)
            {
                throw new System.IO.InvalidDataException($"fold {held}: no other group has healthy windows to set the detector threshold on");
            }

            FeatureRow[] train = rows.Where(r => r.Group != held && r.Group != validationGroup).ToArray();
            FeatureRow[] validation = rows.Where(r => r.Group == validationGroup).ToArray();
            FeatureRow[] test = rows.Where(r => r.Group == held).ToArray();
            int healthy = train.Count(r => r.Label == Dataset.HealthyLabel);
            if (healthy < 4)
            {
                throw new System.IO.InvalidDataException($"fold {held}: only {healthy} healthy training windows");
            }

            progress?.Report($"cv fold {g + 1}/{groups.Length}: hold out {held}, threshold on {validationGroup}, train on {train.Length} windows");
            FloatDetector detector = TrainingRun.FitDetector(o, train, validation, null).Detector;
            QuantizedModel q = PostTrainingQuantizer.Quantize(detector, train.Select(r => r.Features).ToArray(), modelId: 1, modelVersion: 1, board.BoardClass, 0);
            Int8Model int8 = Int8Model.Load(q.ToBlob(), board.BoardClass, 0);
            string[] classes = train.Select(r => r.Label).Distinct().OrderBy(c => c == Dataset.HealthyLabel ? "" : c, StringComparer.Ordinal).ToArray();
            MlpClassifier verifier = MlpClassifier.Train(train.Select(r => r.Features).ToArray(), train.Select(r => Array.IndexOf(classes, r.Label)).ToArray(), classes, o.VerifierHidden, o.VerifierEpochs, o.Seed, weightDecay: o.VerifierWeightDecay);

            int faults = 0, caught = 0, healthyWindows = 0, falseAlarms = 0, known = 0, right = 0;
            foreach (FeatureRow r in test)
            {
                int i = index[r];
                if (int8.Invoke(r.Features) != Int8Model.StatusOk)
                {
                    throw new System.IO.InvalidDataException("the int8 detector refused a window");
                }

                int8Scores[i] = int8.Score;
                flags[i] = int8.IsAboveThreshold;
                int foldClass = verifier.PredictClass(r.Features);

                // Pooled over folds in one class list: a class a fold never trained on is unknown to it.
                truth[i] = Array.IndexOf(classes, r.Label) >= 0 ? Array.IndexOf(allClasses, r.Label) : -1;
                predicted[i] = Array.IndexOf(allClasses, classes[foldClass]);
                bool fault = r.Label != Dataset.HealthyLabel;
                faults += fault ? 1 : 0;
                caught += fault && flags[i] ? 1 : 0;
                healthyWindows += fault ? 0 : 1;
                falseAlarms += !fault && flags[i] ? 1 : 0;
                known += truth[i] >= 0 ? 1 : 0;
                right += truth[i] >= 0 && truth[i] == predicted[i] ? 1 : 0;
            }

            folds.Add(new CvFold(held, validationGroup, test.Length, faults, Ratio(caught, faults), Ratio(falseAlarms, healthyWindows), Ratio(right, known)));
        }

        bool[] faultAll = rows.Select(r => r.Label != Dataset.HealthyLabel).ToArray();
        var figures = new HeldOutFigures(rows.Select(r => r.RecordingId).ToArray(), o.Seed);
        CardFigure[] pooled = figures.Standard(faultAll, null, int8Scores, flags, truth, predicted, null, allClasses, Array.IndexOf(allClasses, Dataset.HealthyLabel));
        return new CrossValidationCard($"leave one group out, {groups.Length} folds", folds.ToArray(), pooled);
    }

    private static double Ratio(int k, int n) => n == 0 ? double.NaN : (double)k / n;
}
