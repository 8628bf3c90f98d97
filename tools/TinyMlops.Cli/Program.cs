using System;
using System.Collections.Generic;
using System.IO;
using TinyMlops.Boards;
using TinyMlops.Quantization;

namespace TinyMlops.Cli;

/// <summary>The <c>tinymlops</c> command line.</summary>
public static class Program
{
    /// <summary>Entry point: <c>tinymlops COMMAND [--option value …]</c>.</summary>
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        try
        {
            if (args[0] == "gateways")
            {
                return GatewaysCommand.Run(args[1..]);
            }

            Options o = Options.Parse(args[1..]);
            return args[0] switch
            {
                "detect" => DetectCommand.Run(o),
                "bench" => BenchCommand.Run(o),
                "conformance" => Conformance(o),
                "provision" => ProvisionCommand.Run(o),
                "train" => TrainCommand.Train(o),
                "eval" => TrainCommand.Eval(o),
                "bench-train" => TrainCommand.Bench(o),
                "bench-gateway" => GatewayBenchCommand.Run(o),
                "boards" => Boards(o),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message}\n\n{Usage}");
            return 2;
        }
        catch (Exception e) when (e is BoardProfileException or IOException or InvalidDataException or ArgumentException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private const string Usage = """
        usage: tinymlops COMMAND [options]

          train        [--data DIR] [--board NAME] [--out DIR] [--seed N]    train the node detector and gateway verifier, quantise, export, model card
          eval         --model DIR --data DIR                     evaluate a trained model folder on recordings (JSON)
          bench-train  [--data DIR] [--board NAME]                train on the ADI recordings: wall time, sizes, every target
          bench-gateway [--minutes 10] [--nodes 100] [--rate 500] [--report 60] [--rounds 7] [--model ONNX] [--out DIR]
                                                                gateway figures: verification throughput vs bare ONNX Runtime,
                                                                node publish -> verdict latency under load, memory over time
          detect       [--board NAME] [--data CSV] [--out DIR]   fit a healthy-only detector on the shipped fan recording,
                                                                quantise it to int8 and run the firmware core over every window
          bench        [--iterations N]                          int8 interpreter figures per conformance model vs a float reference
          conformance  [--out DIR]                               regenerate tests/conformance and the device test data
          boards                                                 list and validate the board profiles
          gateways     add|revoke ID --store DIR [--out FILE]    issue (or withdraw) a gateway's credential for the trainer's
                                                                ingestion service; the token goes owner-only to FILE, never to the screen
          provision    --board NAME --node ID --wifi-ssid S --mqtt-host H [--wifi-password P] [--mqtt-port N]
                       [--mqtt-user U] [--mqtt-password P] [--ca FILE] [--key HEX] [--out DIR] [--gateway-nodes FILE]
                                                                write the node's provisioning file (I:\node.cfg) from the board profile;
                                                                with --gateway-nodes, register its MQTT login in the gateway's nodes.json
        """;

    private static int Conformance(Options o)
    {
        string root = Checkout.FindRoot();
        string dir = o.Get("out") ?? Path.Combine(root, "tests", "conformance");
        IReadOnlyList<ConformanceCase> cases = ConformanceVectors.Build();
        ConformanceVectors.Write(dir, cases);
        string generated = Path.Combine(root, "firmware", "NFUnitTest", "ConformanceData.g.cs");
        File.WriteAllText(generated, ConformanceSource.Generate(dir));
        Console.WriteLine($"wrote {cases.Count} conformance cases to {dir} and {generated}");
        return 0;
    }

    private static int Boards(Options o)
    {
        string dir = BoardProfile.FindBoardsDirectory();
        foreach (string name in BoardProfile.List(dir))
        {
            BoardProfile p = BoardProfile.Load(name, dir);
            string sampling = p.Sampling == null ? "" : $"{p.Sampling.Sensor} @ {p.Sampling.SampleRateHz} Hz, window {p.Sampling.WindowLength}";
            Console.WriteLine($"{p.Name,-16} class {p.BoardClass,-3} {p.NanoffTarget ?? "-",-18} model slot {p.Memory.ModelFlashBytes,10} B  RAM {p.Memory.ModelRamBytes,10} B  {sampling}");
        }

        return 0;
    }
}

/// <summary>Bad command-line use.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary><c>--name value</c> pairs.</summary>
public sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    /// <summary>Parses <c>--name value</c> pairs.</summary>
    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new UsageException($"expected --name value, got '{args[i]}'");
            }

            o._values[args[i][2..]] = args[++i];
        }

        return o;
    }

    /// <summary>The value of <c>--name</c>, or null.</summary>
    public string? Get(string name) => _values.TryGetValue(name, out string? v) ? v : null;

    /// <summary>A positive number option with a default.</summary>
    public double GetDouble(string name, double fallback) =>
        Get(name) is { } v ? (double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double d) && d > 0 ? d : throw new UsageException($"--{name} must be a positive number")) : fallback;

    /// <summary>An integer option with a default.</summary>
    public int GetInt(string name, int fallback) =>
        Get(name) is { } v ? (int.TryParse(v, out int n) && n > 0 ? n : throw new UsageException($"--{name} must be a positive integer")) : fallback;
}
