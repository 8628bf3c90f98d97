namespace TinyMlops.Cli;

/// <summary>Placeholder replaced below.</summary>
public static class BenchCommand
{
    /// <summary>Runs the command.</summary>
    public static int Run(Options o) => throw new UsageException("bench: not built yet");
}
