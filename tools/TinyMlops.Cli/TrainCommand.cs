using System;
using System.Globalization;
using System.IO;
using TinyMlops.Boards;
using TinyMlops.Trainer;

namespace TinyMlops.Cli;

/// <summary><c>tinymlops train</c> and <c>tinymlops eval</c>.</summary>
public static class TrainCommand
{
    /// <summary>Trains a detector and a verifier for a board and writes the artifacts.</summary>
    public static int Train(Options o)
    {
        string root = Path.GetDirectoryName(BoardProfile.FindBoardsDirectory())!;
        var options = new TrainOptions
        {
            DataDirectory = o.Get("data") ?? Path.Combine(root, "data", "uci-accelerometer-fan"),
            Board = o.Get("board") ?? "esp32-wroom-32",
            OutputDirectory = o.Get("out") ?? Path.Combine(root, "out", "train"),
            Seed = o.GetInt("seed", 42),
            PcaRank = o.GetInt("rank", 8),
            VerifierHidden = o.GetInt("hidden", 32),
            VerifierEpochs = o.GetInt("epochs", 300),
            UciSampleRateHz = o.Get("uci-rate") is { } r ? double.Parse(r, CultureInfo.InvariantCulture) : TrainOptions.DefaultUciRate,
        };
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
        Console.WriteLine(Evaluation.ToJson(Evaluation.Run(model, data, new Progress())));
        return 0;
    }

    private sealed class Progress : IProgress<string>
    {
        public void Report(string value) => Console.Error.WriteLine("[train] " + value);
    }
}
