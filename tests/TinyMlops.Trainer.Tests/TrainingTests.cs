using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Quantization;
using TinyMlops.Tests.Shared;
using Xunit;

namespace TinyMlops.Trainer.Tests;

/// <summary>One ADI training run shared by the tests that read its artifacts.</summary>
public sealed class AdiTraining : IDisposable
{
    public AdiTraining()
    {
        Output = Paths.Temp("train-adi");
        Card = TrainingRun.Run(new TrainOptions { DataDirectory = Paths.Adi, Board = "esp32-wroom-32", OutputDirectory = Output, Seed = 7 });
    }

    public string Output { get; }

    public ModelCard Card { get; }

    public void Dispose() => Directory.Delete(Output, recursive: true);
}

public class TrainingTests(AdiTraining adi) : IClassFixture<AdiTraining>
{
    [Fact]
    public void Int8_detector_keeps_the_float_detectors_figures()
    {
        DetectorCard d = adi.Card.Detector;
        Assert.True(d.RocAucDrop <= 0.005, $"ROC-AUC drop {d.RocAucDrop}");
        Assert.True(d.DecisionAgreement >= 0.995, $"decision agreement {d.DecisionAgreement}");
        Assert.True(d.Float.RocAuc > 0.9, $"float ROC-AUC {d.Float.RocAuc}");
        Assert.True(d.ModelBytes <= (1.05 * d.ParameterBytes) + 256);
    }

    [Fact]
    public void Onnx_Runtime_reproduces_the_trained_verifier_on_the_whole_test_set()
    {
        Assert.True(adi.Card.Verifier.OnnxParityMaxAbs <= 1e-5, $"max |Δp| {adi.Card.Verifier.OnnxParityMaxAbs}");
        Assert.Equal(7, adi.Card.Verifier.Classes.Length);
        Assert.True(adi.Card.Verifier.Float.MacroF1 > 0.5, $"macro-F1 {adi.Card.Verifier.Float.MacroF1}");
    }

    [Fact]
    public void Int8_QDQ_verifier_runs_in_ONNX_Runtime_and_keeps_the_macro_F1()
    {
        VerifierCard v = adi.Card.Verifier;
        Assert.True(v.MacroF1DropPoints <= 0.5, $"macro-F1 drop {v.MacroF1DropPoints:F2} points");
        byte[] int8 = File.ReadAllBytes(Path.Combine(adi.Output, "verifier-int8.onnx"));
        Assert.True(int8.Length < File.ReadAllBytes(Path.Combine(adi.Output, "verifier.onnx")).Length);
        float[][] probabilities = TrainingRun.RunOnnx(int8, new[] { new float[36], Enumerable.Repeat(1f, 36).ToArray() }, v.Classes.Length);
        Assert.All(probabilities, p => Assert.InRange(p.Sum(), 0.999f, 1.001f));
    }

    [Fact]
    public void Firmware_core_reproduces_the_trainers_conformance_vectors_bit_for_bit()
    {
        (byte[] blob, float[][] inputs, byte[][] expected) = ConformanceVectors.Read(Path.Combine(adi.Output, "conformance", "detector"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(adi.Output, "detector.tmlm")), blob);
        int rows = ConformanceCases.Run("trained detector", blob, inputs.SelectMany(r => r).ToArray(), expected.SelectMany(r => r).ToArray());
        Assert.True(rows > 10);
    }

    [Fact]
    public void Model_card_holds_what_a_reviewer_needs()
    {
        using JsonDocument card = JsonDocument.Parse(File.ReadAllText(Path.Combine(adi.Output, "model-card.json")));
        JsonElement r = card.RootElement;
        Assert.Equal(64, r.GetProperty("dataset").GetProperty("contentHash").GetString()!.Length);
        Assert.Equal(7, r.GetProperty("seed").GetInt32());
        Assert.Equal("esp32-wroom-32", r.GetProperty("board").GetString());
        Assert.Equal(1000, r.GetProperty("sampleRateHz").GetDouble());
        Assert.Equal(512, r.GetProperty("windowLength").GetInt32());
        Assert.True(r.GetProperty("detector").GetProperty("int8").GetProperty("rocAuc").GetDouble() > 0);
        Assert.True(r.GetProperty("detector").GetProperty("macs").GetInt64() > 0);
        JsonElement perClass = r.GetProperty("verifier").GetProperty("int8").GetProperty("perClass");
        Assert.Equal(7, perClass.GetArrayLength());
        Assert.All(perClass.EnumerateArray(), c => Assert.InRange(c.GetProperty("recall").GetDouble(), 0, 1));
        Assert.Contains("quantisation-aware", r.GetProperty("verifier").GetProperty("int8Method").GetString());
        Assert.Contains("| class | support | precision | recall | F1 |", File.ReadAllText(Path.Combine(adi.Output, "model-card.md")));
        Assert.True(r.GetProperty("cascade").GetProperty("cascadeRecall").GetDouble() > 0);
        Assert.False(string.IsNullOrEmpty(r.GetProperty("codeVersion").GetString()));
        string md = File.ReadAllText(Path.Combine(adi.Output, "model-card.md"));
        Assert.Contains("## Cascade", md);
        Assert.Contains(adi.Card.Dataset.ContentHash, md);
        Assert.True(Int8Model.Load(File.ReadAllBytes(Path.Combine(adi.Output, "detector.tmlm")), 1, 0).Header.BoardClass == 1);
    }

    [Fact]
    public void Same_data_and_seed_give_byte_identical_artifacts()
    {
        string again = Paths.Temp("train-adi-again");
        try
        {
            TrainingRun.Run(new TrainOptions { DataDirectory = Paths.Adi, Board = "esp32-wroom-32", OutputDirectory = again, Seed = 7 });
            string[] files = Directory.GetFiles(adi.Output, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(adi.Output, f)).OrderBy(f => f, StringComparer.Ordinal).ToArray();
            Assert.Equal(files, Directory.GetFiles(again, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(again, f)).OrderBy(f => f, StringComparer.Ordinal));
            foreach (string f in files)
            {
                Assert.True(File.ReadAllBytes(Path.Combine(adi.Output, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(again, f))), f + " differs between two runs");
            }
        }
        finally
        {
            Directory.Delete(again, recursive: true);
        }
    }

    [Fact]
    public void A_model_that_does_not_fit_is_refused_saying_by_how_much()
    {
        BoardProfile board = BoardProfile.Load("esp32-wroom-32");
        BoardProfile tiny = board with { Memory = board.Memory with { ModelFlashBytes = 1000, ModelRamBytes = 2000 }, Interpreter = board.Interpreter! with { MacNanoseconds = 1000000 } };
        byte[] blob = File.ReadAllBytes(Path.Combine(adi.Output, "detector.tmlm"));
        Int8Model model = Int8Model.Load(blob, 1, 0);
        string message = Assert.Throws<BudgetException>(() => TrainingRun.CheckBudget(tiny, blob, model)).Message;
        Assert.Contains($"({blob.Length - 1000} B over)", message);
        Assert.Contains($"the model needs {model.RamBytes} B of RAM, the board grants 2000 B ({model.RamBytes - 2000} B over)", message);
        Assert.Contains("cannot keep up", message);
        Budget ok = TrainingRun.CheckBudget(board, blob, model);
        Assert.Equal(model.RamBytes, ok.ModelRamBytes);
        Assert.True(ok.PipelineRamBytes > ok.ModelRamBytes + (24 * 512)); // at least the two capture buffers besides the model
        Assert.InRange(ok.ComputeShare, 0.01, 1.0);
    }

    [Fact]
    public void Eval_runs_a_trained_folder_over_recordings()
    {
        EvaluationResult r = Evaluation.Run(adi.Output, Paths.Adi);
        Assert.Equal(65, r.Recordings);
        Assert.True(r.Detector.RocAuc > 0.9);
        Assert.Equal(0, r.UnknownLabelWindows);
        Assert.Contains("\"cascade\"", Evaluation.ToJson(r));
        Assert.Throws<FileNotFoundException>(() => Evaluation.Run(Paths.Temp("nothing"), Paths.Adi));
    }
}

public class FanTrainingTests
{
    [Fact]
    public void The_shipped_fan_recording_trains_end_to_end_on_a_fresh_machine()
    {
        string output = Paths.Temp("train-fan");
        try
        {
            ModelCard card = TrainingRun.Run(new TrainOptions { DataDirectory = Paths.Fan, Board = "esp32-c3", OutputDirectory = output, Seed = 3, VerifierEpochs = 100 });
            Assert.Equal(new[] { "healthy", "imbalance" }, card.Verifier.Classes);
            Assert.True(card.Verifier.OnnxParityMaxAbs <= 1e-5);
            Assert.True(card.Detector.DecisionAgreement >= 0.99, $"agreement {card.Detector.DecisionAgreement}");
            Assert.Contains(card.Dataset.Assumptions, a => a.Contains("sample rate"));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}

public class TrainingInputTests
{
    [Fact]
    public void Training_refuses_unusable_data_and_boards_with_a_reason()
    {
        string dir = Paths.Temp("too-few-groups");
        Directory.CreateDirectory(dir);
        try
        {
            var rng = new Random(1);
            foreach ((string file, string label, string group) in new[] { ("a.csv", "healthy", "g1"), ("b.csv", "imbalance", "g2") })
            {
                var lines = new System.Collections.Generic.List<string> { $"# tinymlops-recording sample_rate_hz=1000 label={label} group={group}", "x,y,z" };
                lines.AddRange(Enumerable.Range(0, 4000).Select(_ => $"{rng.NextDouble():F4},{rng.NextDouble():F4},1.0"));
                File.WriteAllLines(Path.Combine(dir, file), lines);
            }

            string output = Path.Combine(dir, "out");
            Assert.Contains("at least 3 groups", Assert.Throws<ArgumentException>(() => TrainingRun.Run(new TrainOptions { DataDirectory = dir, Board = "esp32-wroom-32", OutputDirectory = output })).Message);
            Assert.Contains("gateway", Assert.Throws<ArgumentException>(() => TrainingRun.Run(new TrainOptions { DataDirectory = dir, Board = "rpi4", OutputDirectory = output })).Message);
            Assert.False(Directory.Exists(output), "nothing is written when training is refused");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
