using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace TinyMlops.Contracts;

/// <summary>
/// The operator tokens an operator API accepts (the gateway's label API, the trainer's admin API), read from a file
/// (one per line, at least 16 characters; <c>#</c> comments) and re-read when it changes. Compared by SHA-256 digest
/// in constant time. Thread-safe.
/// </summary>
public sealed class OperatorTokens(string? path)
{
    private readonly object _gate = new();
    private List<byte[]> _digests = new();
    private DateTime _stamp;

    /// <summary>True when a token file is set.</summary>
    public bool IsConfigured => !string.IsNullOrEmpty(path);

    /// <summary>True when <paramref name="authorization"/> is <c>Bearer {token}</c> with a listed token.</summary>
    public bool Verify(string? authorization)
    {
        if (!IsConfigured || authorization == null || !authorization.StartsWith("Bearer ", StringComparison.Ordinal) || authorization.Length > 512)
        {
            return false;
        }

        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(authorization[7..].Trim()));
        bool match = false;
        foreach (byte[] d in Current())
        {
            match |= CryptographicOperations.FixedTimeEquals(d, digest);
        }

        return match;
    }

    private List<byte[]> Current()
    {
        lock (_gate)
        {
            try
            {
                DateTime stamp = File.GetLastWriteTimeUtc(path!);
                if (stamp != _stamp)
                {
                    var digests = new List<byte[]>();
                    foreach (string line in File.ReadAllLines(path!))
                    {
                        string t = line.Trim();
                        if (t.Length >= 16 && !t.StartsWith('#'))
                        {
                            digests.Add(SHA256.HashData(Encoding.UTF8.GetBytes(t)));
                        }
                    }

                    _digests = digests;
                    _stamp = stamp;
                }
            }
            catch (IOException)
            {
                // Unreadable for a moment (being replaced): keep the last list.
            }

            return _digests;
        }
    }
}
