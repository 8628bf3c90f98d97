using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.IO;
using TinyMlops.Boards;

namespace TinyMlops.GatewayBench;

/// <summary>What one benchmark run does (the command line's options, checked).</summary>
/// <param name="Minutes">Length of the load run.</param>
/// <param name="Nodes">Simulated nodes.</param>
/// <param name="Rate">Events per second, all nodes together.</param>
/// <param name="Report">Seconds between progress lines.</param>
/// <param name="Rounds">Interleaved throughput rounds.</param>
/// <param name="Batch">Verification batch size.</param>
/// <param name="Model">Verifier ONNX (null: train one on the shipped recording).</param>
/// <param name="Board">Board whose window the frames carry.</param>
/// <param name="Out">Output folder (null: out/bench-gateway).</param>
/// <param name="P99TargetMs">Target of the publish -> verdict p99 (10 ms for the gateway's own figure, 50 ms for a 1,000-node fleet).</param>
public sealed record BenchSettings(double Minutes, int Nodes, int Rate, int Report, int Rounds, int Batch, string? Model, string Board, string? Out, double P99TargetMs = 10);

/// <summary>
/// <c>tinymlops-bench-gateway</c>: the gateway benchmark as its own program, so the user's command line does not carry
/// the gateway inside it. Exit 0 when every target is met, 1 when one is missed or the run fails, 2 for bad options.
/// </summary>
public static class Program
{
    /// <summary>Runs the benchmark.</summary>
    public static int Main(string[] args)
    {
        Option<double> minutes = Positive("--minutes", "length of the load run (default 10)", 10);
        Option<int> nodes = Count("--nodes", "simulated nodes (default 100)", 100);
        Option<int> rate = Count("--rate", "events per second, all nodes together (default 500)", 500);
        Option<int> report = Count("--report", "seconds between progress lines (default 60)", 60);
        Option<int> rounds = Count("--rounds", "interleaved throughput rounds (default 7)", 7);
        Option<int> batch = Count("--batch", "verification batch size (default 32)", 32);
        var model = new Option<string?>("--model") { Description = "verifier ONNX to use (default: train one on the shipped recording)" };
        var board = new Option<string>("--board") { Description = "board whose window the frames carry (default esp32-wroom-32)", DefaultValueFactory = _ => "esp32-wroom-32" };
        var output = new Option<string?>("--out") { Description = "output folder (default out/bench-gateway)" };
        Option<double> p99 = Positive("--p99-target", "target of the publish -> verdict p99 in ms (default 10; 50 for 1,000 nodes at one window/s each)", 10);
        var root = new RootCommand("Gateway figures: verification vs bare ONNX Runtime, node publish -> verdict latency under load, memory over time.");
        foreach (Option o in new Option[] { minutes, nodes, rate, report, rounds, batch, model, board, output, p99 })
        {
            root.Options.Add(o);
        }

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (ParseError e in parsed.Errors)
            {
                Console.Error.WriteLine("tinymlops-bench-gateway: " + e.Message);
            }

            return 2;
        }

        if (Array.Exists(args, a => a is "--help" or "-h" or "-?"))
        {
            return parsed.Invoke();
        }

        try
        {
            return GatewayBench.Run(new BenchSettings(parsed.GetValue(minutes), parsed.GetValue(nodes), parsed.GetValue(rate), parsed.GetValue(report),
                parsed.GetValue(rounds), parsed.GetValue(batch), parsed.GetValue(model), parsed.GetValue(board)!, parsed.GetValue(output), parsed.GetValue(p99)));
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine("tinymlops-bench-gateway: " + e.Message);
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or BoardProfileException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("tinymlops-bench-gateway: " + e.Message);
            return 1;
        }
    }

    private static Option<int> Count(string name, string description, int fallback) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        CustomParser = r =>
        {
            string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 1)
            {
                return v;
            }

            r.AddError($"{name} takes a whole number of at least 1, not '{text}'");
            return 0;
        },
    };

    private static Option<double> Positive(string name, string description, double fallback) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        CustomParser = r =>
        {
            string text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && !double.IsInfinity(v))
            {
                return v;
            }

            r.AddError($"{name} takes a positive number, not '{text}'");
            return 0;
        },
    };
}

/// <summary>Training progress on standard error, in order.</summary>
internal sealed class TrainProgress : IProgress<string>
{
    public void Report(string value) => Console.Error.WriteLine("[train] " + value);
}
