using System;
using System.IO;
using System.Linq;
using TinyMlops.Boards;
using TinyMlops.Trainer;

namespace TinyMlops.Cli;

/// <summary><c>tinymlops train</c> and <c>tinymlops eval</c>.</summary>
public static class TrainCommand
{
    /// <summary>Trains a detector and a verifier for a board and writes the artifacts.</summary>
    public static int Train(Options o)
    {
        string root = Checkout.FindRoot();
        var options = new TrainOptions
        {
            DataDirectory = o.Get("data") ?? throw new UsageException("--data is required: the recordings a model is trained on are never a default"),
            Board = o.Get("board") ?? "esp32-wroom-32",
            OutputDirectory = o.Get("out") ?? Path.Combine(root, "out", "train"),
            Seed = o.GetInt("seed", 42),
            PcaRank = o.GetInt("rank", 8),
            VerifierHidden = o.GetInt("hidden", 32),
            VerifierEpochs = o.GetInt("epochs", 300),
            VerifierWeightDecay = o.GetDouble("weight-decay", Trainer.Models.MlpClassifier.DefaultWeightDecay),
            DetectorFalseAlarms = o.Get("detector-false-alarms") != null ? o.GetDouble("detector-false-alarms", 0) : null,
            UciSampleRateHz = o.GetDouble("uci-rate", TrainOptions.DefaultUciRate),
            CrossValidateGroups = o.Get("cv") == "groups",
            Detector = o.Get("detector") ?? TrainOptions.PcaDetectorKind,
            DetectorRecall = o.GetDouble("detector-recall", 0.99),
            ExcludeGroups = (o.Get("hold-out") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
        if (options.DetectorRecall > 1)
        {
            // --detector is a choice and --detector-recall positive by their declarations; a share stops at 1.
            throw new UsageException($"--detector-recall is a share in (0, 1], not {options.DetectorRecall}");
        }

        try
        {
            ModelCard card = TrainingRun.Run(options, new Progress());
            Console.WriteLine();
            Console.Write(card.ToMarkdown());
            return 0;
        }
        catch (BudgetException e)
        {
            Console.Error.WriteLine("refused: " + e.Message);
            return 3;
        }
    }

    /// <summary>Evaluates a trained model folder on recordings and prints the metrics as JSON.</summary>
    public static int Eval(Options o)
    {
        string model = o.Get("model") ?? throw new UsageException("--model DIR is required");
        string data = o.Get("data") ?? throw new UsageException("--data DIR is required");
        string[]? groups = o.Get("groups")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Console.WriteLine(Evaluation.ToJson(Evaluation.Run(model, data, new Progress(), groups)));
        return 0;
    }

    /// <summary>
    /// The trainer's benchmark: train + quantise + export on the ADI recordings (or --data), wall time on this
    /// machine against the 60 s target, artifact sizes, and every target the model card carries.
    /// </summary>
    public static int Bench(Options o)
    {
        string root = Checkout.FindRoot();
        string data = o.Get("data") ?? Path.GetFullPath(Path.Combine(root, "..", "shared", "datasets", "adi_cbm_adxl356_00lb"));
        string output = o.Get("out") ?? Path.Combine(root, "out", "bench-train");
        var options = new TrainOptions { DataDirectory = data, Board = o.Get("board") ?? "esp32-wroom-32", OutputDirectory = output, Seed = o.GetInt("seed", 42) };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ModelCard card = TrainingRun.Run(options, new Progress());
        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"train + quantise + export on {card.Dataset.Recordings} recordings ({card.Dataset.Windows} windows) for {card.Board}, {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("figure                                   value        target     ");
        Target("wall time (s)", seconds, "<= 60", seconds <= 60);
        Target("detector ROC-AUC float", card.Detector.Float.RocAuc, "", true);
        Target("detector ROC-AUC int8", card.Detector.Int8.RocAuc, "", true);
        Target("detector ROC-AUC drop", card.Detector.RocAucDrop, "<= 0.005", card.Detector.RocAucDrop <= 0.005);
        Target("detector decision agreement", card.Detector.DecisionAgreement, ">= 0.995", card.Detector.DecisionAgreement >= 0.995);
        Target("detector F1 int8", card.Detector.Int8.F1, "", true);
        Target("verifier macro-F1 float", card.Verifier.Float.MacroF1, "", true);
        Target("verifier macro-F1 int8", card.Verifier.Int8.MacroF1, "", true);
        Target("verifier macro-F1 drop (points)", card.Verifier.MacroF1DropPoints, "<= 0.5", card.Verifier.MacroF1DropPoints <= 0.5);
        Target("verifier int8/float class agreement", card.Verifier.Int8Agreement, "", true);
        Target("ONNX Runtime parity max |dp|", card.Verifier.OnnxParityMaxAbs, "<= 1e-5", card.Verifier.OnnxParityMaxAbs <= 1e-5);
        Target("cascade: forwarded fraction", card.Cascade.ForwardedFraction, "", true);
        Target("cascade: recall detector / cascade", card.Cascade.DetectorRecall, $"{card.Cascade.CascadeRecall:F3}", true);
        Target("cascade: false alarms detector / cascade", card.Cascade.DetectorFalseAlarmRate, $"{card.Cascade.CascadeFalseAlarmRate:F3}", true);
        Console.WriteLine();
        foreach (string file in Directory.GetFiles(output, "*", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal))
        {
            Console.WriteLine($"{Path.GetRelativePath(output, file),-40} {new FileInfo(file).Length,8} B");
        }

        return 0;
    }

    private static void Target(string name, double value, string target, bool met) =>
        Console.WriteLine($"{name,-40} {value,10:G5}   {target,-10} {(target.StartsWith('<') || target.StartsWith('>') ? (met ? "met" : "MISSED") : "")}");

    /// <summary>Training progress on standard error.</summary>
    internal sealed class Progress : IProgress<string>
    {
        public void Report(string value) => Console.Error.WriteLine("[train] " + value);
    }
}
