using System.Globalization;
using System.Linq;
using System.Text;
using TinyMlops.Firmware.Core.Node;

using TinyMlops.Trainer.Data;

namespace TinyMlops.Trainer;

/// <summary>
/// The detector against its board, from the node's own PipelineBudget: slot and model RAM, the whole pipeline's RAM,
/// and the per-window cost in MAC units (capture, features, model, event) with its device time against the period.
/// </summary>
public sealed record Budget(int FlashBytes, int FlashLimit, int ModelRamBytes, int ModelRamLimit, int PipelineRamBytes, int PipelineRamLimit, int LargestBlockBytes, int LargestBlockLimit,
    long CaptureUnits, long FeatureUnits, long ModelUnits, long EncodeUnits, double ComputeMs, double PeriodMs, double ComputeShare);

/// <summary>The data a model was trained on.</summary>
public sealed record DatasetCard(string Format, string ContentHash, int Recordings, int Windows, string[] Assumptions, string[] TrainGroups, string[] ValidationGroups, string[] TestGroups, int TrainWindows, int ValidationWindows, int TestWindows);

/// <summary>The node's detector, float and int8.</summary>
public sealed record DetectorCard(string Kind, string ThresholdRule, string Int8Calibration, double TargetFalseAlarmRate, double FloatThreshold, int Int8Threshold, BinaryMetrics Float, BinaryMetrics Int8, double RocAucDrop, double DecisionAgreement, int ModelBytes, int ParameterBytes, int WorkingBytes, long Macs, Budget Budget);

/// <summary>The gateway's verifier.</summary>
public sealed record VerifierCard(string Kind, string Int8Method, string[] Classes, MulticlassMetrics Float, double OnnxParityMaxAbs, int OnnxBytes, MulticlassMetrics Int8, BinaryMetrics FaultFloat, BinaryMetrics FaultInt8, double MacroF1DropPoints, double Int8Agreement, int Int8OnnxBytes);

/// <summary>The two tiers together on held-out windows.</summary>
public sealed record CascadeFigures(double ForwardedFraction, double DetectorRecall, double CascadeRecall, double DetectorFalseAlarmRate, double CascadeFalseAlarmRate);

/// <summary>Everything a reviewer needs to trust (or refuse) a trained pair of models; written as JSON and Markdown.</summary>
public sealed class ModelCard
{
    public string Board { get; init; } = "";
    public int BoardClass { get; init; }
    public DatasetCard Dataset { get; init; } = null!;
    public int Seed { get; init; }
    public string CodeVersion { get; init; } = "";
    public double SampleRateHz { get; init; }
    public int WindowLength { get; init; }
    public int Hop { get; init; }
    public int Bands { get; init; }
    public int Features { get; init; }

    /// <summary>
    /// The node's healthy baseline the models' inputs are taken against (the board's): its windows and smoothing; null
    /// when they take the raw features.
    /// </summary>
    public BaselinePlan? Baseline { get; init; }

    public DetectorCard Detector { get; init; } = null!;
    public VerifierCard Verifier { get; init; } = null!;
    public CascadeFigures Cascade { get; init; } = null!;

    /// <summary>The headline figures on the test split, each with its counts and a bootstrap interval over recordings.</summary>
    public CardFigure[] Figures { get; init; } = [];

    /// <summary>Leave-one-group-out figures, when asked for (<c>--cv groups</c>).</summary>
    public CrossValidationCard? CrossValidation { get; init; }

    /// <summary>The card as Markdown.</summary>
    public string ToMarkdown()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("# Model card\n\n");
        sb.Append(c, $"Board **{Board}** (class {BoardClass}), {SampleRateHz} Hz, windows of {WindowLength} samples every {Hop}, {Bands} bands, {Features} features. Seed {Seed}, code {CodeVersion}.\n\n");
        if (Baseline != null)
        {
            sb.Append(c, $"Inputs against each node's own healthy baseline: z and |z| of every feature, the baseline learned over the first {Baseline.Windows} windows after commissioning (per operating point here: the start of its healthy recording, which gives no test window), averaged over {Baseline.Smoothing} consecutive windows.\n\n");
        }

        sb.Append(c, $"## Data\n\n{Dataset.Format}, {Dataset.Recordings} recordings, {Dataset.Windows} windows, SHA-256 `{Dataset.ContentHash}`.\n\n");
        sb.Append(c, $"Split by recording group: train {string.Join(", ", Dataset.TrainGroups)} ({Dataset.TrainWindows} windows); validation {string.Join(", ", Dataset.ValidationGroups)} ({Dataset.ValidationWindows}); test {string.Join(", ", Dataset.TestGroups)} ({Dataset.TestWindows}).\n\n");
        foreach (string a in Dataset.Assumptions)
        {
            sb.Append("- Assumption: ").Append(a).Append('\n');
        }

        sb.Append(c, $"\n## Figures and how far to trust them\n\nOn the test split; 95 % intervals from {HeldOutFigures.Resamples} bootstrap resamples of its recordings (windows of one recording are not independent). A figure that rests on one or two recordings is one operating point's luck, whatever its value; \"not estimable\" means fewer than two recordings (of each condition, for a ROC-AUC) — `--cv groups` judges every group in turn.\n\n");
        FigureTable(sb, Figures);
        if (CrossValidation != null)
        {
            sb.Append(c, $"\n### Cross-validation ({CrossValidation.Scheme})\n\nEvery window predicted by a detector and float verifier trained without its group, pooled:\n\n");
            FigureTable(sb, CrossValidation.Pooled);
            sb.Append("\n| held-out group | threshold from | windows | fault windows | detector recall | false-alarm rate | verifier accuracy |\n|---|---|---|---|---|---|---|\n");
            foreach (CvFold f in CrossValidation.Folds)
            {
                sb.Append(c, $"| {f.Group} | {f.ValidationGroup} | {f.Windows} | {f.FaultWindows} | {Percent(f.DetectorRecall)} | {Percent(f.DetectorFalseAlarmRate)} | {Percent(f.VerifierAccuracy)} |\n");
            }
        }

        sb.Append(c, $"\n## Detector (node)\n\n{Detector.Kind}; {Detector.ThresholdRule}.\n\n");
        sb.Append("| | ROC-AUC | precision | recall | F1 | false-alarm rate | TP | FP | TN | FN |\n|---|---|---|---|---|---|---|---|---|---|\n");
        Row(sb, "float", Detector.Float);
        Row(sb, "int8", Detector.Int8);
        sb.Append(c, $"\nint8: {Detector.Int8Calibration}. ROC-AUC drop {Detector.RocAucDrop:F4}; int8 and float decisions agree on {Detector.DecisionAgreement:P2} of test windows.\n\n");
        Budget b = Detector.Budget;
        sb.Append(c, $"Size: {Detector.ModelBytes} B blob ({Detector.ParameterBytes} B parameters), {Detector.WorkingBytes} B working memory, {Detector.Macs} MACs per window.\n");
        sb.Append(c, $"Budget: flash {b.FlashBytes}/{b.FlashLimit} B, model RAM {b.ModelRamBytes}/{b.ModelRamLimit} B, pipeline RAM {b.PipelineRamBytes}/{b.PipelineRamLimit} B, largest block {b.LargestBlockBytes}/{b.LargestBlockLimit} B; ");
        sb.Append(c, $"per window {b.CaptureUnits + b.FeatureUnits + b.ModelUnits + b.EncodeUnits} MAC units (capture {b.CaptureUnits}, features {b.FeatureUnits}, model {b.ModelUnits}, event {b.EncodeUnits}) = {b.ComputeMs:F0} ms of a {b.PeriodMs:F0} ms period ({b.ComputeShare * 100:F0} %, target {PipelineBudget.MaxComputeShare * 100:F0} %).\n\n");
        sb.Append(c, $"## Verifier (gateway)\n\n{Verifier.Kind}; {Verifier.OnnxBytes} B ONNX; ONNX Runtime vs trained model: max |Δp| = {Verifier.OnnxParityMaxAbs:E2}.\n\n");
        sb.Append(c, $"Macro-F1 {Verifier.Float.MacroF1:F3} (float), {Verifier.Int8.MacroF1:F3} (int8 QDQ, {Verifier.Int8OnnxBytes} B): drop {Verifier.MacroF1DropPoints:F2} points ({Verifier.Int8Method}); int8 and float classes agree on {Verifier.Int8Agreement:P2} of test windows; accuracy {Verifier.Float.Accuracy:P1} / {Verifier.Int8.Accuracy:P1}.\n\nAs a fault / healthy decision (P(fault) = 1 − P(healthy)):\n\n");
        sb.Append("| | ROC-AUC | precision | recall | F1 | false-alarm rate | TP | FP | TN | FN |\n|---|---|---|---|---|---|---|---|---|---|\n");
        Row(sb, "float", Verifier.FaultFloat);
        Row(sb, "int8", Verifier.FaultInt8);
        sb.Append("\nPer class on held-out windows (float / int8):\n\n| class | support | precision | recall | F1 |\n|---|---|---|---|---|\n");
        for (int i = 0; i < Verifier.Classes.Length; i++)
        {
            ClassMetrics f = Verifier.Float.PerClass[i], q = Verifier.Int8.PerClass[i];
            sb.Append(c, $"| {f.Class} | {f.Support} | {f.Precision:F3} / {q.Precision:F3} | {f.Recall:F3} / {q.Recall:F3} | {f.F1:F3} / {q.F1:F3} |\n");
        }

        sb.Append("\nFloat confusion matrix (`verifier-confusion.png`; the int8 one is in model-card.json):\n\n");
        sb.Append("| truth \\ predicted | ").Append(string.Join(" | ", Verifier.Classes)).Append(" |\n|---|").Append(string.Concat(Enumerable.Repeat("---|", Verifier.Classes.Length))).Append('\n');
        for (int i = 0; i < Verifier.Classes.Length; i++)
        {
            sb.Append("| ").Append(Verifier.Classes[i]).Append(" | ").Append(string.Join(" | ", Verifier.Float.Confusion[i])).Append(" |\n");
        }

        sb.Append(c, $"\n## Cascade (held-out windows)\n\n| | value |\n|---|---|\n| windows forwarded to the gateway | {Cascade.ForwardedFraction:P1} |\n| fault recall, detector alone | {Cascade.DetectorRecall:P1} |\n| fault recall after verification | {Cascade.CascadeRecall:P1} |\n| false alarms, detector alone | {Cascade.DetectorFalseAlarmRate:P1} |\n| false alarms with the verifier | {Cascade.CascadeFalseAlarmRate:P1} |\n");
        return sb.ToString();
    }

    private static void FigureTable(StringBuilder sb, CardFigure[] figures)
    {
        sb.Append("| figure | value | 95 % interval | windows | recordings |\n|---|---|---|---|---|\n");
        foreach (CardFigure f in figures)
        {
            string interval = double.IsNaN(f.Low) ? "not estimable" : string.Create(CultureInfo.InvariantCulture, $"{f.Low:F3} – {f.High:F3}");
            sb.Append(CultureInfo.InvariantCulture, $"| {f.Name} | {(double.IsNaN(f.Value) ? "undefined" : f.Value.ToString("F3", CultureInfo.InvariantCulture))} | {interval} | {f.Windows} | {f.Recordings} |\n");
        }
    }

    private static string Percent(double v) => double.IsNaN(v) ? "—" : v.ToString("P1", CultureInfo.InvariantCulture);

    private static void Row(StringBuilder sb, string name, BinaryMetrics m) =>
        sb.Append(CultureInfo.InvariantCulture, $"| {name} | {m.RocAuc:F4} | {m.Precision:F3} | {m.Recall:F3} | {m.F1:F3} | {m.FalseAlarmRate:P1} | {m.TruePositives} | {m.FalsePositives} | {m.TrueNegatives} | {m.FalseNegatives} |\n");
}
