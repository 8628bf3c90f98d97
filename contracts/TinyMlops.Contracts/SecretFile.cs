using System;
using System.IO;
using System.Text;

namespace TinyMlops.Contracts;

/// <summary>
/// Writes files that hold secrets (node keys and passwords, password hashes, gateway credentials): readable and
/// writable by the owner only (0600) from the moment they exist, and replaced in one rename so a reader never sees
/// half of one.
/// </summary>
public static class SecretFile
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates or replaces <paramref name="path"/> with <paramref name="text"/> (UTF-8), owner-only.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Encoding.UTF8.GetBytes(text));

    /// <summary>Creates or replaces <paramref name="path"/> with <paramref name="data"/>, owner-only.</summary>
    public static void WriteAllBytes(string path, byte[] data)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly; // applied at creation, so the secret is never readable by others
            }

            using (var f = new FileStream(temp, options))
            {
                f.Write(data);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>True when <paramref name="path"/> is readable or writable by anyone but its owner (always false on Windows).</summary>
    public static bool IsExposed(string path) =>
        !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~(OwnerOnly | UnixFileMode.UserExecute)) != 0;
}
