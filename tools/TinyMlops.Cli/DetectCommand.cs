using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Quantization;
using TinyMlops.Trainer;
using TinyMlops.Trainer.Models;
using TinyMlops.Trainer.Data;

namespace TinyMlops.Cli;

/// <summary>
/// The end-to-end path that exists today: the shipped fan recording → windows → the firmware core's features → a
/// healthy-only k-means detector → int8 post-training quantisation → the firmware interpreter over every held-out
/// window, reporting how many windows of each condition it flags. Splits are by recording.
/// </summary>
public static class DetectCommand
{
    private const int Window = 256;   // the fan recordings hold 3,000 samples each
    private const int Clusters = 4;
    private const double FalseAlarmTarget = 0.01;

    /// <summary>Runs the command.</summary>
    public static int Run(Options o)
    {
        string root = Checkout.FindRoot();
        BoardProfile board = BoardProfile.Load(o.Get("board") ?? "esp32-wroom-32");
        if (!board.IsSensorNode || board.Sampling == null)
        {
            throw new UsageException($"board '{board.Name}' is a gateway; pick a sensor-node board");
        }

        string data = o.Get("data") ?? Path.Combine(root, "data", "uci-accelerometer-fan");
        string outDir = o.Get("out") ?? Path.Combine(root, "out", "detect");
        Directory.CreateDirectory(outDir);
        int bands = Math.Min(board.Sampling.Bands, Window / 4);
        Console.WriteLine($"board {board.Name} (class {board.BoardClass}, model slot {board.Memory.ModelFlashBytes} B, model RAM {board.Memory.ModelRamBytes} B)");

        Dataset dataset = DatasetLoader.Load(data);
        if (dataset.Format != "uci-fan")
        {
            throw new UsageException("detect runs on the UCI fan recording (a folder holding accelerometer.csv); use train for other data");
        }

        IReadOnlyList<Recording> recordings = dataset.Recordings;
        // The trainer's windowing at the recording's own rate (every recording of this set shares it).
        List<FeatureRow> rows = FeatureTable.Build(recordings, recordings[0].SampleRateHz, Window, Window / 2, bands);
        var features = recordings.ToDictionary(r => r, r => rows.Where(w => w.RecordingId == r.Id).Select(w => w.Features).ToList());
        int featureCount = rows[0].Features.Length;

        // Split by recording: the speeds 20, 30, ... 100 train, the speeds 25, 35, ... 95 are held out.
        Recording[] train = recordings.Where(r => FanConditions.Speed(r) % 10 == 0).ToArray();
        Recording[] heldOut = recordings.Except(train).ToArray();
        float[][] healthyX = train.Where(r => r.Healthy).SelectMany(r => features[r]).ToArray();
        Console.WriteLine($"{recordings.Count} recordings, {features.Values.Sum(f => f.Count)} windows of {Window} samples, {featureCount} features each");
        Console.WriteLine($"training recordings: {train.Length} ({healthyX.Length} healthy windows); held out: {heldOut.Length} recordings");

        FloatDetector kmeans = KMeansDetector.Fit(healthyX, Clusters, seed: 7);
        double[] trainScores = healthyX.Select(kmeans.Score).OrderBy(v => v).ToArray();
        kmeans.Threshold = trainScores[(int)Math.Ceiling((1 - FalseAlarmTarget) * (trainScores.Length - 1))];
        float[][] allX = train.SelectMany(r => features[r]).ToArray();
        int[] labels = train.SelectMany(r => features[r].Select(_ => r.Healthy ? 0 : 1)).ToArray();
        FloatDetector logistic = LogisticDetector.Fit(allX, labels);

        var results = new List<object>();
        int exit = 0;
        foreach ((string name, string description, FloatDetector detector, float[][] calibration) in new[]
        {
            ("kmeans", $"healthy-only k-means, {Clusters} centroids, threshold at the {100 * (1 - FalseAlarmTarget):0}th percentile of healthy training scores", kmeans, healthyX),
            ("logistic", "supervised logistic regression (balanced vs imbalance), threshold p = 0.5", logistic, allX),
        })
        {
            results.Add(RunDetector(name, description, detector, calibration, board, bands, heldOut, outDir, ref exit));
        }

        File.WriteAllText(Path.Combine(outDir, "detect-summary.json"), JsonSerializer.Serialize(new { board = board.Name, window = Window, bands, features = featureCount, detectors = results }, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote the models and detect-summary.json to {outDir}");
        return exit;
    }

    private static object RunDetector(string name, string description, FloatDetector detector, float[][] calibration, BoardProfile board, int bands, Recording[] heldOut, string outDir, ref int exit)
    {
        QuantizedModel q = PostTrainingQuantizer.Quantize(detector, calibration, modelId: name == "kmeans" ? 1u : 2u, modelVersion: 1, board.BoardClass);
        byte[] blob = q.ToBlob();
        Int8Model model = Int8Model.Load(blob, board.BoardClass, 0);
        Budget budget;
        try
        {
            // The node's own check: this model in the board's pipeline (its window, rate, interpreter and RAM).
            budget = TrainingRun.CheckBudget(board, blob, model);
        }
        catch (BudgetException e)
        {
            Console.Error.WriteLine($"refused ({name}): {e.Message}");
            exit = 3;
            return new { name, refused = e.Message };
        }

        File.WriteAllBytes(Path.Combine(outDir, name + ".tmlm"), blob);
        Console.WriteLine();
        Console.WriteLine($"== {name}: {description}");
        Console.WriteLine($"int8 model: {blob.Length} B ({q.ParameterBytes} B parameters), {model.RamBytes} B of RAM, {model.Macs} MACs per window");
        Console.WriteLine($"on {board.Name}: {budget.ComputeMs:F0} ms of compute per {budget.PeriodMs:F0} ms window ({budget.ComputeShare * 100:F0} % at the board's interpreter speed, target {PipelineBudget.MaxComputeShare * 100:F0} %), pipeline RAM {budget.PipelineRamBytes}/{budget.PipelineRamLimit} B");
        Console.WriteLine("condition (held out)      recordings  windows  flagged  flagged%  int8=float%");
        var pipeline = new DetectionPipeline(Window, bands, 1000, SystemFloatMath.Instance);
        var rows = new List<object>();
        int agree = 0, total = 0;
        foreach (IGrouping<int, Recording> group in heldOut.GroupBy(FanConditions.Configuration).OrderBy(g => g.Key))
        {
            int windows = 0, flagged = 0, same = 0;
            foreach (Recording r in group)
            {
                for (int start = 0; start + Window <= r.X.Length; start += Window / 2)
                {
                    for (int i = 0; i < Window; i++)
                    {
                        pipeline.Add(r.X[start + i], r.Y[start + i], r.Z[start + i]);
                    }

                    int result = pipeline.Evaluate(model);
                    if (result is not (DetectionPipeline.ResultNormal or DetectionPipeline.ResultSuspicious))
                    {
                        Console.Error.WriteLine($"window dropped by the firmware pipeline (result {result})");
                        exit = 1;
                        continue;
                    }

                    bool floatFlag = detector.Score(pipeline.Features) > detector.Threshold;
                    windows++;
                    flagged += result == DetectionPipeline.ResultSuspicious ? 1 : 0;
                    same += (result == DetectionPipeline.ResultSuspicious) == floatFlag ? 1 : 0;
                }
            }

            agree += same;
            total += windows;
            string condition = FanConditions.Name(group.Key);
            Console.WriteLine($"{condition,-25} {group.Count(),10} {windows,8} {flagged,8} {100.0 * flagged / windows,8:F1} {100.0 * same / windows,11:F1}");
            rows.Add(new { condition, recordings = group.Count(), windows, flagged, flaggedFraction = (double)flagged / windows, int8FloatAgreement = (double)same / windows });
        }

        Console.WriteLine($"int8 and float decisions agree on {100.0 * agree / total:F2}% of {total} held-out windows");
        return new { name, description, modelBytes = blob.Length, parameterBytes = q.ParameterBytes, workingBytes = model.WorkingBytes, macs = model.Macs, threshold = model.Header.Threshold, conditions = rows, agreement = (double)agree / total };
    }
}

/// <summary>Names of the fan recording's weight configurations.</summary>
public static class FanConditions
{
    /// <summary>The configuration number of a UCI recording id (<c>configN-speedNNN</c>).</summary>
    public static int Configuration(TinyMlops.Trainer.Data.Recording r) => int.Parse(r.Id.AsSpan(6, 1), CultureInfo.InvariantCulture);

    /// <summary>The speed percentage of a UCI recording (group <c>speedNNN</c>).</summary>
    public static int Speed(TinyMlops.Trainer.Data.Recording r) => int.Parse(r.Group.AsSpan(5), CultureInfo.InvariantCulture);

    /// <summary>Human name of a weight configuration.</summary>
    public static string Name(int configuration) => configuration switch
    {
        1 => "balanced (healthy)",
        2 => "imbalance, perpendicular",
        3 => "imbalance, opposite",
        _ => "configuration " + configuration,
    };
}

/// <summary>k-means on standardised features, as a <see cref="FloatDetector"/> scoring distance to the nearest centroid.</summary>
public static class KMeansDetector
{
    /// <summary>Fits <paramref name="k"/> centroids with k-means++ seeding and Lloyd iterations.</summary>
    public static FloatDetector Fit(float[][] x, int k, int seed)
    {
        FloatDetector probe = FloatDetector.FitStandardisation(x);
        int n = x[0].Length;
        float[][] z = x.Select(probe.Standardize).ToArray();
        var rng = new Random(seed);
        var centroids = new List<float[]> { (float[])z[rng.Next(z.Length)].Clone() };
        while (centroids.Count < k)
        {
            double[] d = z.Select(p => centroids.Min(c => Distance(p, c))).ToArray();
            double pick = rng.NextDouble() * d.Sum();
            int idx = 0;
            for (double acc = d[0]; acc < pick && idx < d.Length - 1; acc += d[++idx])
            {
            }

            centroids.Add((float[])z[idx].Clone());
        }

        for (int iteration = 0; iteration < 50; iteration++)
        {
            int[] assign = z.Select(p => Enumerable.Range(0, k).MinBy(j => Distance(p, centroids[j]))).ToArray();
            for (int j = 0; j < k; j++)
            {
                float[][] members = z.Where((_, i) => assign[i] == j).ToArray();
                if (members.Length > 0)
                {
                    centroids[j] = Enumerable.Range(0, n).Select(i => (float)members.Average(m => m[i])).ToArray();
                }
            }
        }

        return new FloatDetector { Mean = probe.Mean, Std = probe.Std, Head = DetectorHead.CentroidDistance, Centroids = centroids.ToArray() };
    }

    private static double Distance(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            s += (a[i] - (double)b[i]) * (a[i] - b[i]);
        }

        return s;
    }
}
