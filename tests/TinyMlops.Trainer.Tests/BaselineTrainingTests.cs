using System;
using System.IO;
using System.Linq;
using TinyMlops.Firmware.Core.Models;
using Xunit;

namespace TinyMlops.Trainer.Tests;

/// <summary>
/// Training for a board whose nodes keep a healthy baseline: the models take the baseline inputs, the card says how
/// they were made, and <c>eval</c> applies the same transform on groups the model never saw, refusing a group the
/// data does not have.
/// </summary>
public class BaselineTrainingTests
{
    private static readonly string[] HeldOut = ["speed025", "speed035", "speed045", "speed055", "speed065", "speed075", "speed085", "speed095"];

    [Fact]
    public void A_baseline_board_trains_on_baseline_inputs_and_eval_judges_held_out_speeds_the_same_way()
    {
        string output = Paths.Temp("train-baseline");
        try
        {
            ModelCard card = TrainingRun.Run(new TrainOptions
            {
                DataDirectory = Paths.Fan,
                Board = "esp32-wroom-32-100hz",
                OutputDirectory = output,
                Detector = TrainOptions.SupervisedDetectorKind,
                DetectorFalseAlarms = 0.05,
                VerifierWeightDecay = 0.03,
                VerifierEpochs = 100,
                ExcludeGroups = HeldOut,
            });
            Assert.Equal(new Data.BaselinePlan(12, 3), card.Baseline);
            Assert.Equal(72, card.Features);
            Assert.Equal(72, Int8Model.ReadHeader(File.ReadAllBytes(Path.Combine(output, "detector.tmlm"))).InputLength);
            Assert.Contains("at most 5.0 % of healthy validation windows", card.Detector.ThresholdRule);
            Assert.Contains("healthy baseline", File.ReadAllText(Path.Combine(output, "model-card.md")));

            EvaluationResult heldOut = Evaluation.Run(output, Paths.Fan, groups: HeldOut[..4]);
            Assert.Equal(12, heldOut.Recordings); // 4 speeds x 3 configurations
            // The baseline's own windows give no row: 30 s recordings, 12 windows of 128 learned, hop 32.
            int perRecording = (3000 - 128) / 32 + 1, learned = (12 * 128 - 0) / 32;
            Assert.Equal(4 * ((3 * perRecording) - learned), heldOut.Windows);
            Assert.True(heldOut.Cascade.CascadeRecall > 0.9, $"cascade recall {heldOut.Cascade.CascadeRecall} on held-out speeds");
            Assert.Throws<InvalidDataException>(() => Evaluation.Run(output, Paths.Fan, groups: ["speed026"]));
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }
}
