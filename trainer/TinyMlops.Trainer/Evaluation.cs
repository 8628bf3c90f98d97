using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Trainer.Data;

namespace TinyMlops.Trainer;

/// <summary>Figures of a trained model folder on a set of recordings.</summary>
public sealed record EvaluationResult(string ModelDirectory, string DatasetHash, int Recordings, int Windows, BinaryMetrics Detector, MulticlassMetrics Verifier, MulticlassMetrics? VerifierInt8, int UnknownLabelWindows, CascadeFigures Cascade, CardFigure[] Figures);

/// <summary>
/// Runs a trained model folder (detector.tmlm through the firmware core, verifier.onnx and verifier-int8.onnx through
/// ONNX Runtime) over every window of some recordings, at the rate and window the model card states, with the card's
/// figures and their bootstrap intervals over the recordings.
/// </summary>
public static class Evaluation
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Evaluates <paramref name="modelDirectory"/> on the recordings in <paramref name="dataDirectory"/>.</summary>
    /// <remarks>With <paramref name="groups"/>, only the recordings of those groups (operating points) are judged: the ones a model was never trained on, say.</remarks>
    public static EvaluationResult Run(string modelDirectory, string dataDirectory, IProgress<string>? progress = null, IReadOnlyCollection<string>? groups = null)
    {
        string cardPath = Path.Combine(modelDirectory, "model-card.json");
        if (!File.Exists(cardPath))
        {
            throw new FileNotFoundException($"{cardPath} not found: --model must be a folder written by `tinymlops train`");
        }

        using JsonDocument card = JsonDocument.Parse(File.ReadAllText(cardPath));
        JsonElement root = card.RootElement;
        double rate = root.GetProperty("sampleRateHz").GetDouble();
        int window = root.GetProperty("windowLength").GetInt32();
        int hop = root.GetProperty("hop").GetInt32();
        int bands = root.GetProperty("bands").GetInt32();
        string[] classes = root.GetProperty("verifier").GetProperty("classes").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Int8Model detector;
        try
        {
            detector = Int8Model.Load(File.ReadAllBytes(Path.Combine(modelDirectory, "detector.tmlm")), ModelFormat.BoardClassAny, 0);
        }
        catch (ModelFormatException e)
        {
            throw new InvalidDataException("detector.tmlm is not a valid model: " + e.Message);
        }

        byte[] onnx = File.ReadAllBytes(Path.Combine(modelDirectory, "verifier.onnx"));
        Dataset data = DatasetLoader.Load(dataDirectory);
        BaselinePlan? baseline = root.TryGetProperty("baseline", out JsonElement b) && b.ValueKind == JsonValueKind.Object
            ? new BaselinePlan(b.GetProperty("windows").GetInt32(), b.GetProperty("smoothing").GetInt32())
            : null;
        Recording[] recordings = groups == null ? [.. data.Recordings] : [.. data.Recordings.Where(r => groups.Contains(r.Group))];
        if (groups != null && groups.FirstOrDefault(g => recordings.All(r => r.Group != g)) is { } missing)
        {
            throw new InvalidDataException($"{dataDirectory} has no group '{missing}' (its groups: {string.Join(", ", data.Recordings.Select(r => r.Group).Distinct())})");
        }

        List<FeatureRow> rows = FeatureTable.Build(recordings, rate, window, hop, bands, progress, baseline);
        if (rows.Count == 0)
        {
            throw new InvalidDataException("no complete window in the recordings");
        }

        bool[] fault = rows.Select(r => r.Label != Dataset.HealthyLabel).ToArray();
        var scores = new double[rows.Count];
        var flagged = new bool[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            if (detector.Invoke(rows[i].Features) != Int8Model.StatusOk)
            {
                throw new InvalidDataException($"the detector refused a window of {rows[i].RecordingId}: its feature count does not match");
            }

            scores[i] = detector.Score;
            flagged[i] = detector.IsAboveThreshold;
        }

        float[][] probabilities = TrainingRun.RunOnnx(onnx, rows.Select(r => r.Features).ToArray(), classes.Length);
        int[] predicted = probabilities.Select(p => Array.IndexOf(p, p.Max())).ToArray();
        int[] truth = rows.Select(r => Array.IndexOf(classes, r.Label)).ToArray();
        MulticlassMetrics verifier = Metrics.Multiclass(truth, predicted, classes);
        string int8Path = Path.Combine(modelDirectory, "verifier-int8.onnx");
        int[]? predictedInt8 = File.Exists(int8Path)
            ? TrainingRun.RunOnnx(File.ReadAllBytes(int8Path), rows.Select(r => r.Features).ToArray(), classes.Length).Select(p => Array.IndexOf(p, p.Max())).ToArray()
            : null;
        int healthy = Array.IndexOf(classes, Dataset.HealthyLabel);
        CardFigure[] figures = new HeldOutFigures(rows.Select(r => r.RecordingId).ToArray(), 42)
            .Standard(fault, null, scores, flagged, truth, predicted, predictedInt8, classes, healthy);
        return new EvaluationResult(modelDirectory, data.ContentHash, recordings.Length, rows.Count, Metrics.Binary(scores, flagged, fault), verifier,
            predictedInt8 == null ? null : Metrics.Multiclass(truth, predictedInt8, classes), truth.Count(t => t < 0), Cascade(fault, flagged, predicted, healthy), figures);
    }

    /// <summary>
    /// The two tiers together: the node forwards what its detector flags; the gateway confirms a fault when the
    /// verifier's class is not healthy.
    /// </summary>
    public static CascadeFigures Cascade(bool[] fault, bool[] flagged, int[] predicted, int healthyIndex)
    {
        int n = fault.Length;
        int faults = fault.Count(f => f), healthy = n - faults;
        int forwarded = flagged.Count(f => f);
        int faultsForwarded = Enumerable.Range(0, n).Count(i => fault[i] && flagged[i]);
        int faultsConfirmed = Enumerable.Range(0, n).Count(i => fault[i] && flagged[i] && predicted[i] != healthyIndex);
        int alarmsDetector = Enumerable.Range(0, n).Count(i => !fault[i] && flagged[i]);
        int alarmsCascade = Enumerable.Range(0, n).Count(i => !fault[i] && flagged[i] && predicted[i] != healthyIndex);
        return new CascadeFigures(
            n == 0 ? 0 : (double)forwarded / n,
            faults == 0 ? 0 : (double)faultsForwarded / faults,
            faults == 0 ? 0 : (double)faultsConfirmed / faults,
            healthy == 0 ? 0 : (double)alarmsDetector / healthy,
            healthy == 0 ? 0 : (double)alarmsCascade / healthy);
    }

    /// <summary>The result as indented JSON.</summary>
    public static string ToJson(EvaluationResult r) => JsonSerializer.Serialize(r, Json);
}
