using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Quantization;
using TinyMlops.Trainer.Data;
using TinyMlops.Trainer.Models;

namespace TinyMlops.Trainer;

/// <summary>What <c>tinymlops train</c> is asked to do.</summary>
public sealed record TrainOptions
{
    /// <summary>Folder of recordings.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Board profile name.</summary>
    public required string Board { get; init; }

    /// <summary>Output folder.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Seed for the split, ML.NET and the verifier.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Share of healthy validation windows the detector may flag.</summary>
    public double FalseAlarmRate { get; init; } = 0.01;

    /// <summary>
    /// The node's detector: <see cref="PcaDetectorKind"/> (healthy windows only, threshold for
    /// <see cref="FalseAlarmRate"/>) or <see cref="SupervisedDetectorKind"/> (logistic on every class, threshold for
    /// <see cref="DetectorRecall"/>: it screens, the verifier confirms).
    /// </summary>
    public string Detector { get; init; } = PcaDetectorKind;

    /// <summary>Share of fault validation windows a supervised detector must flag.</summary>
    public double DetectorRecall { get; init; } = 0.99;

    /// <summary>
    /// When set, a supervised detector's threshold is chosen instead so that at most this share of healthy validation
    /// windows is flagged (the verifier then confirms only among those).
    /// </summary>
    public double? DetectorFalseAlarms { get; init; }

    /// <summary>Groups (operating points) left out of training, validation and test: held out for whoever runs the model next.</summary>
    public IReadOnlyCollection<string> ExcludeGroups { get; init; } = [];

    /// <summary><see cref="Detector"/> for the healthy-only PCA detector.</summary>
    public const string PcaDetectorKind = "pca";

    /// <summary><see cref="Detector"/> for the supervised screening detector.</summary>
    public const string SupervisedDetectorKind = "supervised";

    /// <summary>PCA rank of the detector.</summary>
    public int PcaRank { get; init; } = 8;

    /// <summary>Hidden units of the verifier.</summary>
    public int VerifierHidden { get; init; } = 32;

    /// <summary>Verifier training epochs.</summary>
    public int VerifierEpochs { get; init; } = 300;

    /// <summary>The verifier's weight decay per optimiser step: more keeps it from learning the training operating points by heart.</summary>
    public double VerifierWeightDecay { get; init; } = Models.MlpClassifier.DefaultWeightDecay;

    /// <summary>Sample rate of the UCI fan recording (not stated in the data).</summary>
    public double UciSampleRateHz { get; init; } = DefaultUciRate;

    /// <summary>Also run leave-one-group-out cross-validation (<c>--cv groups</c>).</summary>
    public bool CrossValidateGroups { get; init; }

    /// <summary>Default for <see cref="UciSampleRateHz"/>.</summary>
    public const double DefaultUciRate = DatasetLoader.UciAssumedSampleRateHz;
}

/// <summary>A model that does not fit its board.</summary>
public sealed class BudgetException(string message) : Exception(message);

/// <summary>
/// One training run: load, resample to the board's rate, window, compute features with the firmware core, split by
/// recording group, train the healthy-only PCA detector and the MLP verifier, quantise the detector to int8 and
/// check it against the board, export the verifier to ONNX, evaluate float and int8 side by side, measure the
/// cascade, and write the artifacts and the model card. Same data and seed give byte-identical artifacts.
/// </summary>
public static class TrainingRun
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Runs training; returns the model card.</summary>
    public static ModelCard Run(TrainOptions o, IProgress<string>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        BoardProfile board = BoardProfile.Load(o.Board);
        if (!board.IsSensorNode || board.Sampling == null)
        {
            throw new ArgumentException($"board '{board.Name}' is a gateway; train for a sensor-node board");
        }

        progress?.Report($"loading {o.DataDirectory}");
        Dataset data = DatasetLoader.Load(o.DataDirectory, o.UciSampleRateHz);
        int window = board.Sampling.WindowLength;
        int hop = window / 4;
        double rate = board.Sampling.SampleRateHz;
        progress?.Report($"{data.Recordings.Count} recordings ({data.Format}), resampling to {rate} Hz, windows of {window} every {hop}");
        var excluded = new HashSet<string>(o.ExcludeGroups, StringComparer.Ordinal);
        Recording[] recordings = data.Recordings.Where(r => !excluded.Contains(r.Group)).ToArray();
        if (excluded.Count > 0)
        {
            progress?.Report($"{data.Recordings.Count - recordings.Length} recordings of {excluded.Count} held-out groups left out");
        }

        BaselinePlan? baseline = BaselineOf(board);
        if (baseline != null)
        {
            progress?.Report($"inputs against each operating point's healthy baseline: {baseline.Windows} windows learned, {baseline.Smoothing} averaged (the board's)");
        }

        List<FeatureRow> rows = FeatureTable.Build(recordings, rate, window, hop, board.Sampling.Bands, progress, baseline);
        Dictionary<string, Split> split = FeatureTable.SplitGroups(recordings.Select(r => r.Group), o.Seed);
        FeatureRow[] train = rows.Where(r => split[r.Group] == Split.Train).ToArray();
        FeatureRow[] validation = rows.Where(r => split[r.Group] == Split.Validation).ToArray();
        FeatureRow[] test = rows.Where(r => split[r.Group] == Split.Test).ToArray();
        if (train.Length == 0 || validation.Length == 0 || test.Length == 0)
        {
            throw new InvalidDataException("a split is empty: the recordings are too short for the board's window");
        }

        // A split that cannot be judged is an error, not a card of NaN and 0 % figures.
        HeldOutFigures.RequireBothConditions("test", test.Select(r => r.Label != Dataset.HealthyLabel).ToArray(), test.Select(r => r.Group));
        if (!validation.Any(r => r.Label == Dataset.HealthyLabel))
        {
            throw new InvalidDataException($"the validation split ({string.Join(", ", validation.Select(r => r.Group).Distinct())}) holds no healthy window to set the detector's threshold on: give healthy recordings in several groups, or try another --seed");
        }

        int healthyTrain = train.Count(r => r.Label == Dataset.HealthyLabel);
        if (healthyTrain < 4)
        {
            throw new InvalidDataException($"only {healthyTrain} healthy training windows; the detector needs healthy recordings in the training groups");
        }

        (FloatDetector detector, string detectorKind, string thresholdRule) = FitDetector(o, train, validation, progress);

        // Calibrate on every training window, not only healthy ones: a node sees faults too, and a reconstruction
        // whose input saturates the int8 range would hide exactly the windows the detector exists for.
        // The range tail is chosen on training and validation windows (never test): the candidate whose int8
        // decisions agree most often with the float detector's (ties: the smaller tail, fewer saturated values).
        float[][] detectorCalibration = train.Select(r => r.Features).ToArray();
        FeatureRow[] tailRows = train.Concat(validation).ToArray();
        bool[] tailFlags = tailRows.Select(r => detector.Score(r.Features) > detector.Threshold).ToArray();
        (double detectorTail, QuantizedModel q) = DetectorTails
            .Select(t => (Tail: t, Model: PostTrainingQuantizer.Quantize(detector, detectorCalibration, modelId: 1, modelVersion: 1, board.BoardClass, t)))
            .Select(c => (c.Tail, c.Model, Agree: RunInt8(Int8Model.Load(c.Model.ToBlob(), board.BoardClass, 0), tailRows).Flags.Zip(tailFlags, (a, b) => a == b).Count(x => x)))
            .OrderByDescending(c => c.Agree).ThenBy(c => c.Tail).Select(c => (c.Tail, c.Model)).First();
        byte[] blob = q.ToBlob();
        Int8Model int8 = Int8Model.Load(blob, board.BoardClass, 0);
        Budget budget = CheckBudget(board, blob, int8);

        // Verifier: every class.
        // Classes are what the training split holds; a test window of another class counts for the detector only.
        string[] classes = train.Select(r => r.Label).Distinct().OrderBy(c => c == Dataset.HealthyLabel ? "" : c, StringComparer.Ordinal).ToArray();
        progress?.Report($"verifier: MLP {o.VerifierHidden} hidden, {classes.Length} classes, {train.Length} windows");
        MlpClassifier verifier = MlpClassifier.Train(train.Select(r => r.Features).ToArray(), train.Select(r => Array.IndexOf(classes, r.Label)).ToArray(), classes, o.VerifierHidden, o.VerifierEpochs, o.Seed, progress, o.VerifierWeightDecay);
        string codeVersion = Assembly.GetExecutingAssembly().GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        byte[] onnx = verifier.ToOnnx(codeVersion, 1, new Dictionary<string, string> { ["dataset"] = data.ContentHash, ["board"] = board.Name });

        progress?.Report($"evaluating on {test.Length} held-out windows");
        bool[] fault = test.Select(r => r.Label != Dataset.HealthyLabel).ToArray();
        double[] floatScores = test.Select(r => detector.Score(r.Features)).ToArray();
        bool[] floatFlag = floatScores.Select(s => s > detector.Threshold).ToArray();
        (double[] int8Scores, bool[] int8Flag) = RunInt8(int8, test);

        BinaryMetrics detFloat = Metrics.Binary(floatScores, floatFlag, fault);
        BinaryMetrics detInt8 = Metrics.Binary(int8Scores, int8Flag, fault);
        double agreement = floatFlag.Zip(int8Flag, (a, b) => a == b).Count(x => x) / (double)test.Length;

        int[] truth = test.Select(r => Array.IndexOf(classes, r.Label)).ToArray();
        float[][] probabilities = RunOnnx(onnx, test.Select(r => r.Features).ToArray(), classes.Length);
        double parity = 0;
        for (int i = 0; i < test.Length; i++)
        {
            float[] p = verifier.Predict(test[i].Features);
            for (int k = 0; k < p.Length; k++)
            {
                parity = Math.Max(parity, Math.Abs(p[k] - probabilities[i][k]));
            }
        }

        int[] predicted = probabilities.Select(p => Array.IndexOf(p, p.Max())).ToArray();
        MulticlassMetrics ver = Metrics.Multiclass(truth, predicted, classes);
        float[][] calibration = train.Select(r => r.Features).ToArray();
        float[][] validationX = validation.Select(r => r.Features).ToArray();
        int[] floatValidation = validationX.Select(verifier.PredictClass).ToArray();
        var verifierMeta = new Dictionary<string, string> { ["dataset"] = data.ContentHash, ["board"] = board.Name };
        // The activation ranges (tail, per channel or per tensor) are chosen on validation windows, never the test
        // split: the candidate whose int8 predictions agree most often with the float model's.
        var candidates = MlpClassifier.CalibrationTails.SelectMany(t => new[] { (false, false), (true, false), (false, true), (true, true) }.Select(m => (Tail: t, Input: m.Item1, Hidden: m.Item2)));
        QdqRanges best = candidates
            .Select(c => verifier.Calibrate(calibration, c.Tail, c.Input, c.Hidden))
            .Select(r =>
            {
                int[] p = RunOnnx(verifier.ToQdqOnnx(r, codeVersion, 1, verifierMeta), validationX, classes.Length).Select(v => Array.IndexOf(v, v.Max())).ToArray();
                return (r, Agree: p.Zip(floatValidation, (a, b) => a == b ? 1 : 0).Sum());
            })
            .OrderByDescending(r => r.Agree).First().r;
        // Post-training ranges alone cost a point of macro-F1 on some splits; a short quantisation-aware fine-tuning
        // on the training windows, with those ranges fixed, moves the weights to where int8 decides as float did.
        // The float model and its ONNX stay as trained: the drop is measured against them.
        MlpClassifier tuned = verifier.FineTuneForInt8(calibration, train.Select(r => Array.IndexOf(classes, r.Label)).ToArray(), best, QatEpochs, o.Seed, progress);
        byte[] onnxInt8 = tuned.ToQdqOnnx(best, codeVersion, 1, verifierMeta);
        float[][] probabilitiesInt8 = RunOnnx(onnxInt8, test.Select(r => r.Features).ToArray(), classes.Length);
        int[] predictedInt8 = probabilitiesInt8.Select(p => Array.IndexOf(p, p.Max())).ToArray();
        MulticlassMetrics verInt8 = Metrics.Multiclass(truth, predictedInt8, classes);

        // The verifier as a fault / healthy decision: P(fault) = 1 − P(healthy), decided by its most probable class.
        int healthyClass = Array.IndexOf(classes, Dataset.HealthyLabel);
        BinaryMetrics FaultMetrics(float[][] p, int[] argmax) => Metrics.Binary(
            p.Select(v => healthyClass < 0 ? 1.0 : 1.0 - v[healthyClass]).ToArray(), argmax.Select(k => k != healthyClass).ToArray(), fault);

        CascadeFigures cascade = Evaluation.Cascade(fault, int8Flag, predicted, Array.IndexOf(classes, Dataset.HealthyLabel));
        progress?.Report($"bootstrap intervals over {test.Select(r => r.RecordingId).Distinct().Count()} test recordings");
        CardFigure[] figures = new HeldOutFigures(test.Select(r => r.RecordingId).ToArray(), o.Seed)
            .Standard(fault, floatScores, int8Scores, int8Flag, truth, predicted, predictedInt8, classes, healthyClass);
        CrossValidationCard? cv = o.CrossValidateGroups ? CrossValidation.Run(rows, o, board, progress) : null;

        Directory.CreateDirectory(o.OutputDirectory);
        File.WriteAllBytes(Path.Combine(o.OutputDirectory, "detector.tmlm"), blob);
        File.WriteAllBytes(Path.Combine(o.OutputDirectory, "verifier.onnx"), onnx);
        File.WriteAllBytes(Path.Combine(o.OutputDirectory, "verifier-int8.onnx"), onnxInt8);
        float[][] vectors = test.Select(r => r.Features).Take(64).ToArray();
        ConformanceVectors.Write(Path.Combine(o.OutputDirectory, "conformance"), new[]
        {
            new ConformanceCase("detector", q, vectors, vectors.Select(v => ReferenceInterpreter.Run(q, v)).ToArray()),
        });

        progress?.Report("plots");
        Plots.Roc(Path.Combine(o.OutputDirectory, "detector-roc.png"), fault, ("float", floatScores, detFloat.RocAuc), ("int8 (firmware core)", int8Scores, detInt8.RocAuc));
        Plots.ScoreHistogram(Path.Combine(o.OutputDirectory, "detector-scores.png"), floatScores, fault, detector.Threshold, "Detector scores on held-out windows (float)");
        Plots.Confusion(Path.Combine(o.OutputDirectory, "verifier-confusion.png"), classes, ver.Confusion, "Verifier confusion on held-out windows");

        var card = new ModelCard
        {
            Board = board.Name,
            BoardClass = board.BoardClass,
            Dataset = new DatasetCard(data.Format, data.ContentHash, recordings.Length, rows.Count,
                [.. data.Assumptions, .. excluded.Count == 0 ? Array.Empty<string>() : [$"groups held out of training and evaluation: {string.Join(", ", excluded.Order(StringComparer.Ordinal))}"]],
                split.Where(kv => kv.Value == Split.Train).Select(kv => kv.Key).OrderBy(k => k, StringComparer.Ordinal).ToArray(),
                split.Where(kv => kv.Value == Split.Validation).Select(kv => kv.Key).OrderBy(k => k, StringComparer.Ordinal).ToArray(),
                split.Where(kv => kv.Value == Split.Test).Select(kv => kv.Key).OrderBy(k => k, StringComparer.Ordinal).ToArray(),
                train.Length, validation.Length, test.Length),
            Seed = o.Seed,
            CodeVersion = codeVersion,
            SampleRateHz = rate,
            WindowLength = window,
            Hop = hop,
            Bands = board.Sampling.Bands,
            Baseline = baseline,
            Features = train[0].Features.Length,
            Detector = new DetectorCard(detectorKind, thresholdRule, $"post-training quantisation on {detectorCalibration.Length} training windows, range tail {detectorTail}", o.Detector == TrainOptions.PcaDetectorKind ? o.FalseAlarmRate : double.NaN, detector.Threshold, int8.Header.Threshold,
                detFloat, detInt8, Math.Abs(detFloat.RocAuc - detInt8.RocAuc), agreement, blob.Length, q.ParameterBytes, int8.WorkingBytes, int8.Macs, budget),
            Verifier = new VerifierCard($"MLP {verifier.Mean.Length}-{o.VerifierHidden}-{classes.Length}, ReLU, softmax; ONNX opset {Onnx.OnnxGraphBuilder.Opset}", $"QDQ int8, {best.Description}, {QatEpochs} epochs of quantisation-aware fine-tuning", classes, ver, parity, onnx.Length, verInt8, FaultMetrics(probabilities, predicted), FaultMetrics(probabilitiesInt8, predictedInt8), (ver.MacroF1 - verInt8.MacroF1) * 100, predicted.Zip(predictedInt8, (a, b) => a == b ? 1.0 : 0.0).Average(), onnxInt8.Length),
            Cascade = cascade,
            Figures = figures,
            CrossValidation = cv,
        };
        File.WriteAllText(Path.Combine(o.OutputDirectory, "model-card.json"), JsonSerializer.Serialize(card, Json) + "\n");
        File.WriteAllText(Path.Combine(o.OutputDirectory, "model-card.md"), card.ToMarkdown());
        progress?.Report($"done in {clock.Elapsed.TotalSeconds:F1} s: artifacts in {o.OutputDirectory}");
        return card;
    }

    /// <summary>The node baseline a board's models are trained against, or null when its nodes keep none.</summary>
    public static BaselinePlan? BaselineOf(BoardProfile board) =>
        board.Sampling is { BaselineWindows: > 0 } s ? new BaselinePlan(s.BaselineWindows, s.BaselineSmoothing) : null;

    /// <summary>Epochs of quantisation-aware fine-tuning of the verifier.</summary>
    public const int QatEpochs = 50;

    /// <summary>Detector calibration tails tried (share of values left outside each activation range, at each end).</summary>
    public static readonly double[] DetectorTails = { 0, 0.001, 0.005, 0.01, 0.02 };

    // The firmware core's int8 detector over rows: scores and threshold decisions.
    /// <summary>
    /// The node's detector as <paramref name="o"/> asks (<see cref="TrainOptions.Detector"/>), fitted on
    /// <paramref name="train"/> with its threshold set on <paramref name="validation"/>; with what it is and how its
    /// threshold was chosen, for the model card. Training and cross-validation both fit it here.
    /// </summary>
    internal static (FloatDetector Detector, string Kind, string ThresholdRule) FitDetector(TrainOptions o, FeatureRow[] train, FeatureRow[] validation, IProgress<string>? progress)
    {
        if (o.Detector == TrainOptions.SupervisedDetectorKind)
        {
            progress?.Report($"detector: logistic on {train.Length} windows of every class");
            FloatDetector detector = LogisticDetector.Fit(train.Select(r => r.Features).ToArray(), train.Select(r => r.Label == Dataset.HealthyLabel ? 0 : 1).ToArray());
            double[] faultValidation = validation.Where(r => r.Label != Dataset.HealthyLabel).Select(r => detector.Score(r.Features)).ToArray();
            if (faultValidation.Length == 0)
            {
                throw new InvalidDataException($"the validation split ({string.Join(", ", validation.Select(r => r.Group).Distinct())}) holds no fault window to set a supervised detector's threshold on");
            }

            if (o.DetectorFalseAlarms is double share)
            {
                detector.Threshold = PcaDetector.ThresholdFor(validation.Where(r => r.Label == Dataset.HealthyLabel).Select(r => detector.Score(r.Features)), share);
                return (detector, "Logistic regression on standardised features, fault logit", $"threshold for at most {share:P1} of healthy validation windows flagged (it screens; the verifier confirms)");
            }

            detector.Threshold = LogisticDetector.ThresholdForRecall(faultValidation, o.DetectorRecall);
            return (detector, "Logistic regression on standardised features, fault logit", $"threshold for {o.DetectorRecall:P0} of fault validation windows flagged (it screens; the verifier confirms)");
        }

        if (o.Detector == TrainOptions.PcaDetectorKind)
        {
            float[][] healthy = train.Where(r => r.Label == Dataset.HealthyLabel).Select(r => r.Features).ToArray();
            progress?.Report($"detector: PCA rank {o.PcaRank} on {healthy.Length} healthy windows");
            FloatDetector detector = PcaDetector.Fit(healthy, o.PcaRank, o.Seed);
            detector.Threshold = PcaDetector.ThresholdFor(validation.Where(r => r.Label == Dataset.HealthyLabel).Select(r => detector.Score(r.Features)).ToArray(), o.FalseAlarmRate);
            return (detector, $"ML.NET RandomizedPca, rank {o.PcaRank}, squared reconstruction error", $"threshold for a {o.FalseAlarmRate:P1} false-alarm rate on healthy validation windows");
        }

        throw new ArgumentException($"detector '{o.Detector}' is not {TrainOptions.PcaDetectorKind} or {TrainOptions.SupervisedDetectorKind}");
    }

    private static (double[] Scores, bool[] Flags) RunInt8(Int8Model model, FeatureRow[] rows)
    {
        var scores = new double[rows.Length];
        var flags = new bool[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            if (model.Invoke(rows[i].Features) != Int8Model.StatusOk)
            {
                throw new InvalidDataException("the int8 detector refused a window");
            }

            scores[i] = model.Score;
            flags[i] = model.IsAboveThreshold;
        }

        return (scores, flags);
    }

    /// <summary>Runs an ONNX classifier on rows with one long-lived session; returns the probabilities.</summary>
    public static float[][] RunOnnx(byte[] onnx, float[][] rows, int classes)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        using var session = new InferenceSession(onnx, options);
        int n = rows[0].Length;
        var input = new DenseTensor<float>(rows.SelectMany(r => r).ToArray(), new[] { rows.Length, n });
        using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> result = session.Run(new[] { NamedOnnxValue.CreateFromTensor("features", input) });
        float[] flat = result.First().AsEnumerable<float>().ToArray();
        return Enumerable.Range(0, rows.Length).Select(i => flat.AsSpan(i * classes, classes).ToArray()).ToArray();
    }

    /// <summary>
    /// Checks a detector against the board with the node's own <see cref="PipelineBudget"/> (the check the node runs
    /// before it uses a model), plus the slot and the largest heap block; throws <see cref="BudgetException"/> saying
    /// by how much it misses.
    /// </summary>
    public static Budget CheckBudget(BoardProfile board, byte[] blob, Int8Model model)
    {
        BoardSampling sampling = (board.IsSensorNode ? board.Sampling : null) ?? throw new ArgumentException($"board '{board.Name}' is a gateway; a detector needs a sensor-node board");
        var budget = new PipelineBudget(sampling.WindowLength, sampling.Bands, sampling.SampleRateHz, board.Interpreter?.MacNanoseconds ?? 0, board.Memory.ModelRamBytes, board.Memory.PipelineRamBytes,
            sampling.BaselineWindows > 0 ? sampling.BaselineSmoothing : 0);
        PipelineCost cost = budget.Estimate(model.Macs, model.RamBytes);
        var problems = new List<string>();
        if (blob.Length > board.Memory.ModelFlashBytes)
        {
            problems.Add($"model is {blob.Length} B, the {board.Name} slot holds {board.Memory.ModelFlashBytes} B ({blob.Length - board.Memory.ModelFlashBytes} B over)");
        }

        if (blob.Length > board.Memory.LargestBlockBytes)
        {
            problems.Add($"the blob needs one {blob.Length} B block, the largest on {board.Name} is {board.Memory.LargestBlockBytes} B ({blob.Length - board.Memory.LargestBlockBytes} B over)");
        }

        if (cost.Problems != null)
        {
            problems.AddRange(cost.Problems.Split("; "));
        }

        if (problems.Count > 0)
        {
            throw new BudgetException($"the detector does not fit {board.Name}:\n  - " + string.Join("\n  - ", problems));
        }

        return new Budget(blob.Length, board.Memory.ModelFlashBytes, cost.ModelRamBytes, cost.ModelRamLimit, cost.PipelineRamBytes, cost.PipelineRamLimit, blob.Length, board.Memory.LargestBlockBytes,
            cost.CaptureUnits, cost.FeatureUnits, cost.ModelUnits, cost.EncodeUnits, cost.ComputeMicros / 1000.0, cost.PeriodMicros / 1000.0, cost.ComputeShare);
    }
}
