using System;
using System.IO;

namespace TinyMlops.Firmware.Tests;

/// <summary>Paths inside the repository and to ../shared beside it.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Conformance => Path.Combine(Root, "tests", "conformance");

    public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    private static string FindRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir != null && !File.Exists(Path.Combine(dir, "TinyMlops.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("TinyMlops.sln not found above " + AppContext.BaseDirectory);
    }
}
