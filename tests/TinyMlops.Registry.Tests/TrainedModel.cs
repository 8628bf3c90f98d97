using System;
using System.IO;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Releases;
using TinyMlops.Trainer;

namespace TinyMlops.Registry.Tests;

/// <summary>Trains once for every test class that joins the collection.</summary>
[Xunit.CollectionDefinition(TrainedModel.Collection)]
public sealed class TrainedModelCollection : Xunit.ICollectionFixture<TrainedModel>;

/// <summary>One ESP32-C3 model trained on the fan recordings, and release keys, shared by the tests.</summary>
public sealed class TrainedModel : IDisposable
{
    public const string Collection = "trained model";

    public TrainedModel()
    {
        Root = Path.Combine(Path.GetTempPath(), "tinymlops-registry-" + Guid.NewGuid().ToString("N"));
        Model = Path.Combine(Root, "model");
        Card = TrainingRun.Run(new TrainOptions { DataDirectory = Data, Board = "esp32-c3", OutputDirectory = Model, Seed = 3, VerifierEpochs = 100 });
        Keys = KeyStore.Create(Path.Combine(Root, "keys"), Path.Combine(Root, "offline"), "acme", TimeSpan.FromDays(30), DateTimeOffset.UtcNow);
    }

    public static string Data { get; } = Path.Combine(Boards.Checkout.FindRoot(), "data", "uci-accelerometer-fan");

    public string Root { get; }

    /// <summary>The trained model folder.</summary>
    public string Model { get; }

    public ModelCard Card { get; }

    public KeyStore Keys { get; }

    public string Temp(string what)
    {
        string d = Path.Combine(Root, what + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>A copy of the model folder whose detector flags every window (its cascade raises more false alarms).</summary>
    public string FlagsEverything()
    {
        string d = Temp("flags-everything");
        CopyFolder(Model, d);
        byte[] blob = File.ReadAllBytes(Path.Combine(d, "detector.tmlm"));
        LittleEndian.WriteInt32(blob, ModelFormat.ThresholdOffset, int.MinValue);
        File.WriteAllBytes(Path.Combine(d, "detector.tmlm"), ModelFormat.Seal(blob));
        return d;
    }

    public static void CopyFolder(string from, string to)
    {
        foreach (string f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target);
        }
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
