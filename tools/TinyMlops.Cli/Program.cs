using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.IO;
using System.Linq;
using TinyMlops.Boards;
using TinyMlops.Quantization;

namespace TinyMlops.Cli;

/// <summary>
/// The <c>tinymlops</c> command line: System.CommandLine declares every command's options, so each has its own
/// <c>--help</c>, an unknown option is refused with the nearest known one suggested, and every parse error is one
/// line on standard error with exit code 2. Exit 1 is a failure of the work itself (bad data, unknown board, I/O),
/// always as one line too; 3 is a refusal on budget (<c>train</c>).
/// </summary>
public static class Program
{
    /// <summary>Entry point.</summary>
    public static int Main(string[] args)
    {
        RootCommand root = Commands.Build();
        if (args.Length == 0)
        {
            root.Parse(new[] { "--help" }).Invoke();
            return 2;
        }

        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            Console.Error.WriteLine("error: " + Describe(parsed));
            return 2;
        }

        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"error: {e.Message} (see '{CommandPath(parsed.CommandResult)} --help')");
            return 2;
        }
        catch (Exception e) when (Failure(e) is { } failure)
        {
            Console.Error.WriteLine($"error: {failure.Message}");
            return 1;
        }
    }

    // The one line for a parse error: the parser's own words, plus the nearest option when one was misspelt.
    private static string Describe(ParseResult parsed)
    {
        Command command = parsed.CommandResult.Command;
        string message = parsed.Errors[0].Message;
        string? unknown = parsed.UnmatchedTokens.FirstOrDefault(t => t.StartsWith('-'));
        if (unknown != null)
        {
            string? near = Nearest(unknown, command.Options.Select(o => o.Name).Concat(command.Subcommands.Select(c => c.Name)));
            message = $"unknown option '{unknown}'" + (near != null ? $" (did you mean {near}?)" : "");
        }
        else if (parsed.UnmatchedTokens.Count > 0)
        {
            string? near = Nearest(parsed.UnmatchedTokens[0], command.Subcommands.Select(c => c.Name));
            message = $"unknown command or argument '{parsed.UnmatchedTokens[0]}'" + (near != null ? $" (did you mean {near}?)" : "");
        }

        message = string.Join(' ', message.Split((char[])['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.');
        return $"{message} (see '{CommandPath(parsed.CommandResult)} --help')";
    }

    private static string CommandPath(CommandResult r) =>
        r.Parent is CommandResult parent ? CommandPath(parent) + " " + r.Command.Name : "tinymlops";

    private static string? Nearest(string token, IEnumerable<string> names)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string n in names)
        {
            int d = Distance(token, n);
            if (d < bestDistance)
            {
                (best, bestDistance) = (n, d);
            }
        }

        return bestDistance <= Math.Max(2, token.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var d = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            d[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            int previous = d[0];
            d[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int here = d[j];
                d[j] = Math.Min(Math.Min(d[j] + 1, d[j - 1] + 1), previous + (a[i - 1] == b[j - 1] ? 0 : 1));
                previous = here;
            }
        }

        return d[b.Length];
    }

    // Failures of the work (not of the command line) that deserve one line rather than a stack trace. A parallel
    // loader wraps its file's error in an AggregateException; the file's own message is what the user needs.
    private static Exception? Failure(Exception e)
    {
        if (e is AggregateException a && a.InnerExceptions.Count > 0)
        {
            return Failure(a.InnerExceptions[0]);
        }

        return e is CliException or Releases.ReleaseException or BoardProfileException or IOException or InvalidDataException or ArgumentException or FormatException or UnauthorizedAccessException
            ? e : null;
    }

    /// <summary>Regenerates the conformance vectors and the device test data.</summary>
    internal static int Conformance(Options o)
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

    /// <summary>Lists and validates the board profiles.</summary>
    internal static int Boards(Options o)
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

/// <summary>Bad command-line use that only the command itself can see (a board that is not a sensor node, …).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A command could not do its work for a reason the user can act on (exit 1, one line).</summary>
public sealed class CliException(string message) : Exception(message);

/// <summary>A command's option values as given on the command line (already parsed and checked by System.CommandLine).</summary>
public sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    /// <summary>The options of <paramref name="parsed"/>'s command that were given, by name without the leading dashes.</summary>
    public static Options From(ParseResult parsed)
    {
        var o = new Options();
        foreach (Option option in parsed.CommandResult.Command.Options)
        {
            if (parsed.GetResult(option) is OptionResult { Implicit: false } r && r.Tokens.Count > 0)
            {
                o._values[option.Name.TrimStart('-')] = r.Tokens[0].Value;
            }
            else if (option.ValueType == typeof(bool) && parsed.GetResult(option) is OptionResult { Implicit: false })
            {
                o._values[option.Name.TrimStart('-')] = "true"; // a flag given bare
            }
        }

        foreach (Argument argument in parsed.CommandResult.Command.Arguments)
        {
            if (parsed.GetResult(argument) is ArgumentResult { Tokens.Count: > 0 } r)
            {
                o._values[argument.Name] = r.Tokens[0].Value;
            }
        }

        return o;
    }

    /// <summary>The value of <c>--name</c>, or null.</summary>
    public string? Get(string name) => _values.TryGetValue(name, out string? v) ? v : null;

    /// <summary>True when the flag <c>--name</c> was given.</summary>
    public bool Has(string name) => Get(name) is "true" or "True";

    /// <summary>A number option (checked by the parser) with a default.</summary>
    public double GetDouble(string name, double fallback) =>
        Get(name) is { } v ? double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture) : fallback;

    /// <summary>An integer option (checked by the parser) with a default.</summary>
    public int GetInt(string name, int fallback) =>
        Get(name) is { } v ? int.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture) : fallback;
}
