using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Quantization;
using TinyMlops.Registry;
using TinyMlops.Releases;

namespace TinyMlops.Trainer;

/// <summary>What <see cref="Releasing.Release"/> is asked to do.</summary>
public sealed record ReleaseRequest
{
    /// <summary>The model folder (<c>tinymlops train --out</c>).</summary>
    public required string ModelDirectory { get; init; }

    /// <summary>The registry.</summary>
    public required ModelRegistry Registry { get; init; }

    /// <summary>The signing keys.</summary>
    public required KeyStore Keys { get; init; }

    /// <summary>The evaluation set's recordings; null for the one the registry recorded last time.</summary>
    public string? EvaluationData { get; init; }

    /// <summary>Why the release goes out although it scores below the champion; null refuses such a release.</summary>
    public string? ForceReason { get; init; }

    /// <summary>Lowest gateway version that may install it (default: this trainer's own version).</summary>
    public string MinGatewayVersion { get; init; } = Releasing.CodeVersion.ToString(3);

    /// <summary>Agreement the new verifier must reach in shadow on a gateway before it is promoted.</summary>
    public double ShadowAgreement { get; init; } = 0.9;

    /// <summary>Golden rows for the node's self-test (from the folder's conformance vectors).</summary>
    public int GoldenRows { get; init; } = 8;
}

/// <summary>One figure of the release gate.</summary>
/// <param name="Champion">The champion's value on the same evaluation set (null without a champion).</param>
/// <param name="Worse">True when the candidate scores below the champion.</param>
public sealed record GateFigure(string Name, bool HigherIsBetter, double Candidate, double? Champion, bool Worse);

/// <summary>The outcome of a release.</summary>
public sealed record ReleaseOutcome(RegisteredModel Model, StoredRelease Release, string? Champion, IReadOnlyList<GateFigure> Gate);

/// <summary>The files of a model folder a release reads, as paths inside it: what an upload to the trainer service carries.</summary>
public static class ReleaseFolder
{
    /// <summary>The registry's files and the detector's conformance vectors (the golden rows come from them).</summary>
    public static IReadOnlyList<string> Files { get; } =
        [.. ModelRegistry.ModelFiles.Select(f => f.Name), "conformance/detector/model.tmlm", "conformance/detector/case.json", "conformance/detector/inputs.f32", "conformance/detector/expected.bin"];
}

/// <summary>A release as the trainer service answers it (the outcome, its document left out, and the signing key).</summary>
public sealed record ReleaseView(RegisteredModel Model, ReleaseSummary Release, string? Champion, IReadOnlyList<GateFigure> Gate, string KeyId)
{
    /// <summary>The view of <paramref name="outcome"/> signed with <paramref name="keyId"/>.</summary>
    public static ReleaseView Of(ReleaseOutcome outcome, string keyId) => new(outcome.Model, ReleaseSummary.Of(outcome.Release), outcome.Champion, outcome.Gate, keyId);
}

/// <summary>A release refused by the gate; the figures say why.</summary>
public sealed class ReleaseGateException(string message, IReadOnlyList<GateFigure> gate) : Exception(message)
{
    /// <summary>The gate's figures.</summary>
    public IReadOnlyList<GateFigure> Gate { get; } = gate;
}

/// <summary>
/// Register and sign: evaluates the model folder on the registry's evaluation set, compares it with the board
/// class's champion evaluated on the same set (cached per version and dataset hash), refuses it when any gate figure
/// is worse unless forced with a reason (recorded with the release), then registers it with its lineage, signs a
/// release manifest (artifacts with size and SHA-256, golden inputs, minimum gateway version, the figures) under the
/// next sequence of its board class, and points the board class's <c>canary</c> alias at it.
/// </summary>
public static class Releasing
{
    /// <summary>This trainer's version (major.minor.patch): gateways and trainer are released together.</summary>
    public static Version CodeVersion { get; } = typeof(Releasing).Assembly.GetName().Version ?? new Version(0, 0, 0);

    /// <summary>The registry setting that remembers the evaluation set's folder.</summary>
    public const string EvaluationDataSetting = "evaluation-data";

    /// <summary>Releases <paramref name="request"/>'s model folder.</summary>
    public static ReleaseOutcome Release(ReleaseRequest request, IProgress<string>? progress = null)
    {
        if (request.ShadowAgreement is not (> 0 and <= 1))
        {
            throw new ArgumentException($"the shadow agreement is a fraction in (0, 1], not {request.ShadowAgreement}");
        }

        ModelRegistry registry = request.Registry;
        string dir = request.ModelDirectory;
        (int boardClass, float[] golden) = CheckFolder(dir, request.GoldenRows);
        string data = request.EvaluationData ?? registry.Setting(EvaluationDataSetting)
            ?? throw new ArgumentException("the registry has no evaluation set yet: pass --eval-data DIR (recordings every release is judged on)");
        progress?.Report($"evaluating {dir} on {data}");
        EvaluationResult candidate = Evaluation.Run(dir, data, progress);
        registry.SetSetting(EvaluationDataSetting, Path.GetFullPath(data));

        string? champion = registry.AliasOf(boardClass, ModelRegistry.Champion);
        Dictionary<string, double>? championFigures = null;
        if (champion != null)
        {
            string? cached = registry.Evaluation(champion, candidate.DatasetHash);
            if (cached == null)
            {
                progress?.Report($"evaluating the champion {champion} on the same set");
                string temp = Path.Combine(Path.GetTempPath(), "tinymlops-champion-" + Guid.NewGuid().ToString("N"));
                try
                {
                    registry.Export(champion, temp);
                    cached = JsonSerializer.Serialize(GateValues(Evaluation.Run(temp, data, progress)));
                    registry.RecordEvaluation(champion, candidate.DatasetHash, cached);
                }
                finally
                {
                    Directory.Delete(temp, recursive: true);
                }
            }

            championFigures = JsonSerializer.Deserialize<Dictionary<string, double>>(cached);
        }

        Dictionary<string, double> values = GateValues(candidate);
        List<GateFigure> gate = Gate.Select(g =>
        {
            double c = values[g.Name];
            double? best = championFigures != null && championFigures.TryGetValue(g.Name, out double b) ? b : null;
            return new GateFigure(g.Name, g.HigherIsBetter, c, best, best is double v && IsWorse(c, v, g.HigherIsBetter));
        }).ToList();
        if (gate.Any(g => g.Worse) && string.IsNullOrWhiteSpace(request.ForceReason))
        {
            throw new ReleaseGateException(
                $"refused: {string.Join(", ", gate.Where(g => g.Worse).Select(g => $"{g.Name} {g.Candidate:F4} vs the champion {champion}'s {g.Champion:F4}"))} on {data}; release anyway with --force REASON",
                gate);
        }

        RegisteredModel model = registry.Register(dir);
        registry.RecordEvaluation(model.Version, candidate.DatasetHash, JsonSerializer.Serialize(values));
        string? forced = gate.Any(g => g.Worse) ? request.ForceReason : null;
        StoredRelease release = registry.Publish(model.Version, sequence => request.Keys.Sign(new ReleaseManifest
        {
            Vendor = request.Keys.Vendor,
            BoardClass = boardClass,
            Sequence = sequence,
            Created = DateTimeOffset.UtcNow,
            MinGatewayVersion = request.MinGatewayVersion,
            ModelVersion = model.Version,
            Artifacts = model.Artifacts,
            GoldenInputs = golden,
            ShadowAgreement = request.ShadowAgreement,
            Figures = values.Where(kv => double.IsFinite(kv.Value)).ToDictionary(kv => kv.Key, kv => kv.Value),
        }), forced);
        registry.SetAlias(model.Version, ModelRegistry.Canary, forced == null ? $"release {release.Sequence}" : $"release {release.Sequence}, forced: {forced}");
        progress?.Report($"released {model.Version} as release {release.Sequence} of board class {boardClass}");
        return new ReleaseOutcome(model, release, champion, gate);
    }

    /// <summary>The gate's figures: what a release must not lose against the champion.</summary>
    public static IReadOnlyList<(string Name, bool HigherIsBetter)> Gate { get; } =
    [
        ("detector_roc_auc", true), ("cascade_recall", true), ("cascade_false_alarm_rate", false), ("verifier_macro_f1", true),
    ];

    private static Dictionary<string, double> GateValues(EvaluationResult r) => new(StringComparer.Ordinal)
    {
        ["detector_roc_auc"] = r.Detector.RocAuc,
        ["cascade_recall"] = r.Cascade.CascadeRecall,
        ["cascade_false_alarm_rate"] = r.Cascade.CascadeFalseAlarmRate,
        ["verifier_macro_f1"] = r.Verifier.MacroF1,
    };

    // A figure the champion has and the candidate cannot estimate counts as worse; one the champion lacks cannot be.
    private static bool IsWorse(double candidate, double champion, bool higherIsBetter) =>
        !double.IsNaN(champion) && (double.IsNaN(candidate) || (higherIsBetter ? candidate < champion - 1e-9 : candidate > champion + 1e-9));

    private static (int BoardClass, float[] Golden) CheckFolder(string dir, int goldenRows)
    {
        string detector = Path.Combine(dir, "detector.tmlm");
        if (!File.Exists(detector))
        {
            throw new FileNotFoundException($"{detector} not found: --model must be a folder written by `tinymlops train`", detector);
        }

        Int8Model model;
        try
        {
            model = Int8Model.Load(File.ReadAllBytes(detector), ModelFormat.BoardClassAny, 0);
        }
        catch (ModelFormatException e)
        {
            throw new InvalidDataException($"{detector} is not a valid model: {e.Message}", e);
        }

        using JsonDocument card = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "model-card.json")));
        int boardClass = card.RootElement.GetProperty("boardClass").GetInt32();
        if (model.Header.BoardClass != boardClass)
        {
            throw new InvalidDataException($"{detector} is built for board class {model.Header.BoardClass}, its model card says {boardClass}");
        }

        string conformance = Path.Combine(dir, "conformance", "detector");
        if (!Directory.Exists(conformance))
        {
            throw new FileNotFoundException($"{conformance} not found: the golden inputs for the node's self-test come from it", conformance);
        }

        float[][] inputs = ConformanceVectors.Read(conformance).Inputs;
        if (inputs.Length == 0 || inputs[0].Length != model.Header.InputLength)
        {
            throw new InvalidDataException($"{conformance} holds no rows of the detector's {model.Header.InputLength} features");
        }

        return (boardClass, inputs.Take(Math.Clamp(goldenRows, 1, Firmware.Core.Updates.UpdateManifest.MaxGolden)).SelectMany(r => r).ToArray());
    }
}
