using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Features;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Quantization;
using TinyMlops.Trainer.Models;

namespace TinyMlops.Cli;

/// <summary>
/// Interpreted cost of one window per sensor board: runs the core under Mono's IL interpreter with inlining off
/// (a proxy for nanoFramework's interpreter, see docs/interpreter-cost.md), in units of one int8 MAC-loop iteration
/// timed in the same process, and turns that into device time with each board's calibrated cost of that unit.
/// </summary>
public static class InterpBenchCommand
{
    private const string BenchProject = "tools/TinyMlops.InterpBench/TinyMlops.InterpBench.csproj";

    /// <summary>Runs the benchmark; 0 when every board keeps its per-window cost within the budget.</summary>
    public static int Run(Options o)
    {
        string root = Checkout.FindRoot();
        string outDir = Path.GetFullPath(o.Get("out") ?? Path.Combine(root, "out", "bench-interp"));
        int ms = o.GetInt("ms", 300);
        int rank = o.GetInt("rank", 8);
        string? mono = FindOnPath("mono");
        if (mono == null)
        {
            throw new CliException("mono is not installed: the interpreter proxy needs Mono's IL interpreter (Debian: apt-get install mono-runtime)");
        }

        string exe = Path.Combine(root, "tools", "TinyMlops.InterpBench", "bin", "Release", "net48", "TinyMlops.InterpBench.exe");
        if (!File.Exists(exe))
        {
            Console.WriteLine("building the interpreter bench (first run) ...");
            Exec("dotnet", ["build", Path.Combine(root, BenchProject), "-c", "Release", "-nologo", "-v", "quiet"], root);
        }

        Directory.CreateDirectory(outDir);
        string boardsDir = BoardProfile.FindBoardsDirectory(root);
        var boards = BoardProfile.List(boardsDir).Select(n => BoardProfile.Load(n, boardsDir)).Where(b => b.IsSensorNode && b.Sampling != null).ToList();
        var args = new List<string> { "--interp=-inline", exe, "--ms", ms.ToString(CultureInfo.InvariantCulture) };
        foreach (BoardProfile b in boards)
        {
            string model = Path.Combine(outDir, b.Name + ".tmdl");
            File.WriteAllBytes(model, DetectorShapedModel(b, rank));
            args.Add($"{b.Name}:{b.Sampling!.WindowLength}:{b.Sampling.Bands}:{b.Sampling.SampleRateHz}:{model}");
        }

        Console.WriteLine($"Mono IL interpreter, inlining off ({mono}); {boards.Count} sensor boards, PCA rank {rank} detector shape; median of 5 runs of ~{ms} ms each");
        Console.WriteLine("costs are in units of one iteration of a plain int8 MAC loop run in the same process (a proxy: docs/interpreter-cost.md)");
        List<string> lines = Exec(mono, args, root);
        string macLine = lines.FirstOrDefault(l => l.StartsWith("mac ", StringComparison.Ordinal)) ?? throw new CliException("the bench printed no MAC-loop figure:\n" + string.Join("\n", lines));
        Console.WriteLine(macLine);
        Console.WriteLine();
        Console.WriteLine("board            N    rate  capture features model encode   total | budget model  meas/model | features before  speed-up | device ms  period ms  share | f+m share  target");
        bool ok = true;
        var normalisation = new List<string>();
        foreach (string line in lines.Where(l => l.StartsWith("window ", StringComparison.Ordinal)))
        {
            Dictionary<string, string> f = line.Split(' ').Skip(1).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
            BoardProfile b = boards.Single(x => x.Name == f["profile"]);
            double D(string k) => double.Parse(f[k], CultureInfo.InvariantCulture);
            // A board whose nodes keep a healthy baseline pays its inputs every window: measured at smoothings 1 and 5,
            // taken linearly at the board's.
            int smoothing = b.Sampling!.BaselineWindows > 0 ? b.Sampling.BaselineSmoothing : 0;
            int features = 3 * (FeatureExtractor.StatsPerAxis + b.Sampling.Bands);
            double normalise = smoothing == 0 ? 0 : D("normalise1") + ((D("normalise5") - D("normalise1")) * (smoothing - 1) / 4);
            normalisation.Add($"{b.Name,-20} {features,8} {D("normalise1"),6:F0} {PipelineBudget.NormaliseUnits(features, 1),6} {D("normalise5"),6:F0} {PipelineBudget.NormaliseUnits(features, 5),6}   {(smoothing == 0 ? "no baseline" : $"{smoothing} windows: {normalise:F0} units, in total")}");
            double total = D("total") + normalise;
            double periodMs = 1000.0 * b.Sampling!.WindowLength / b.Sampling.SampleRateHz;
            long modelled = PipelineBudget.CaptureUnits(b.Sampling.WindowLength) + PipelineBudget.FeatureUnits(b.Sampling.WindowLength) + PipelineBudget.ModelUnits((long)D("macs")) + PipelineBudget.EncodeUnits(b.Sampling.WindowLength)
                + PipelineBudget.NormaliseUnits(features, smoothing);
            string device = "no calibration";
            string share = "-";
            string verdict = "-";
            if (b.Interpreter != null)
            {
                double deviceMs = total * b.Interpreter.MacNanoseconds / 1e6;
                device = $"{deviceMs,9:F1}";
                share = $"{deviceMs / periodMs * 100,5:F1} %";
                // The target is on the per-window compute (features, baseline inputs, model); capture and the event are in the share before it.
                double fraction = (D("features") + normalise + D("model")) * b.Interpreter.MacNanoseconds / 1e6 / periodMs;
                bool fits = fraction <= PipelineBudget.MaxComputeShare;
                ok &= fits;
                verdict = $"{fraction * 100,7:F1} %  " + (fits ? "ok" : $"over by {(fraction / PipelineBudget.MaxComputeShare - 1) * 100:F0} %");
            }

            Console.WriteLine($"{b.Name,-15} {b.Sampling.WindowLength,5} {b.Sampling.SampleRateHz,6} {D("capture"),7:F0} {D("features"),8:F0} {D("model"),5:F0} {D("encode"),6:F0} {total,7:F0} | {modelled,12} {total / modelled,11:F2} | {D("baselineFeatures"),15:F0} {D("baselineFeatures") / D("features"),8:F2}x | {device}  {periodMs,9:F1}  {share,7}  {verdict}");
        }

        Console.WriteLine();
        Console.WriteLine("healthy-baseline inputs (z and |z| per feature, averaged over k windows): measured units against the budget model");
        Console.WriteLine($"{"board",-20} {"features",8} {"k=1",6} {"model",6} {"k=5",6} {"model",6}   this board");
        normalisation.ForEach(Console.WriteLine);
        Console.WriteLine();
        Console.WriteLine($"share: capture + features (+ baseline inputs) + model + event at each board's calibrated interpreter speed (boards/*.json 'interpreter'); the node refuses a model above 100 %");
        Console.WriteLine($"target: features (+ baseline inputs) + model (the per-window compute) <= {PipelineBudget.MaxComputeShare * 100:F0} % of the window period");
        Console.WriteLine("'budget model' is what PipelineBudget (train, detect and the node's own check) assumes; meas/model above 1 means the check is optimistic");
        Console.WriteLine("'features before' is the pre-rewrite feature path (tools/TinyMlops.InterpBench/Baseline) timed in the same run");
        return ok ? 0 : 3;
    }

    /// <summary>A PCA detector of the board's feature count, quantised as training does; its cost depends only on its shape.</summary>
    private static byte[] DetectorShapedModel(BoardProfile b, int rank)
    {
        int features = 3 * (FeatureExtractor.StatsPerAxis + b.Sampling!.Bands);
        var random = new Random(42);
        float[][] rows = Enumerable.Range(0, 200).Select(_ => Enumerable.Range(0, features).Select(_ => (float)(random.NextDouble() + random.NextDouble())).ToArray()).ToArray();
        FloatDetector detector = PcaDetector.Fit(rows, rank, 42);
        detector.Threshold = 1;
        return PostTrainingQuantizer.Quantize(detector, rows, 1, 1, b.BoardClass).ToBlob();
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Where(d => d.Length > 0).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static List<string> Exec(string file, IEnumerable<string> arguments, string workingDirectory)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory, UseShellExecute = false };
        foreach (string a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi) ?? throw new CliException($"could not start {file}");
        var lines = new List<string>();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) != null)
        {
            lines.Add(line);
        }

        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new CliException($"{Path.GetFileName(file)} failed (exit {p.ExitCode}): {(err.Length > 0 ? err.Trim() : string.Join("\n", lines.TakeLast(20)))}");
        }

        return lines;
    }
}
