using System;
using System.IO;

namespace TinyMlops.Boards;

/// <summary>Where the TinyMlops repository is when a tool or test runs inside it.</summary>
public static class Checkout
{
    /// <summary>
    /// The folder holding <c>TinyMlops.sln</c>, found upward from the application's folder (dotnet run, dotnet test),
    /// else from the current directory (an installed tool run inside a checkout).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">Neither lies inside a checkout.</exception>
    public static string FindRoot() =>
        TryFindRoot() ?? throw new DirectoryNotFoundException(
            $"TinyMlops.sln not found above {AppContext.BaseDirectory} or {Directory.GetCurrentDirectory()}: run inside a TinyMlops checkout");

    /// <summary>As <see cref="FindRoot"/>, or null outside a checkout.</summary>
    public static string? TryFindRoot(string? start = null)
    {
        foreach (string? origin in new[] { start, AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (string? dir = origin; dir != null; dir = Path.GetDirectoryName(dir))
            {
                if (File.Exists(Path.Combine(dir, "TinyMlops.sln")))
                {
                    return dir;
                }
            }
        }

        return null;
    }
}
