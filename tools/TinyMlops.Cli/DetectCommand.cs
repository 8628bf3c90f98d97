namespace TinyMlops.Cli;

/// <summary>Placeholder replaced below.</summary>
public static class DetectCommand
{
    /// <summary>Runs the command.</summary>
    public static int Run(Options o) => throw new UsageException("detect: not built yet");
}
