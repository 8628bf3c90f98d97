using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Contracts;

/// <summary>
/// The nodes a gateway accepts, each with its own MQTT password, stored only as a PBKDF2-SHA256 hash:
/// <c>{"nodes":[{"id":"motor-1","password":"pbkdf2-sha256$100000$salt$hash"}]}</c>. The file is read again when it
/// changes, so a node can be added without a restart. Thread-safe.
/// </summary>
public sealed class NodeRegistry
{
    private const string Scheme = "pbkdf2-sha256";
    private readonly string _path;
    private readonly object _gate = new();
    private Dictionary<string, string> _hashes = new(StringComparer.Ordinal);
    private string _decoy = HashPassword(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)));
    private DateTime _loadedStamp;
    private long _iterationsSpent;

    /// <summary>Reads <paramref name="path"/>; throws <see cref="InvalidDataException"/> naming what is wrong.</summary>
    public NodeRegistry(string path)
    {
        _path = path;
        Reload();
    }

    /// <summary>PBKDF2 iterations <see cref="Verify"/> has spent so far: the hashing work logins cost, known id or not.</summary>
    public long IterationsSpent => System.Threading.Interlocked.Read(ref _iterationsSpent);

    /// <summary>Node ids currently accepted.</summary>
    public IReadOnlyCollection<string> Ids
    {
        get
        {
            lock (_gate)
            {
                return new List<string>(_hashes.Keys);
            }
        }
    }

    /// <summary>True when <paramref name="nodeId"/> is listed.</summary>
    public bool IsKnown(string nodeId)
    {
        ReloadIfChanged();
        lock (_gate)
        {
            return _hashes.ContainsKey(nodeId);
        }
    }

    /// <summary>
    /// True when <paramref name="nodeId"/> is listed and <paramref name="password"/> is its password. An unknown id
    /// or a missing password costs the same PBKDF2 work as a wrong password for a known id, so timing does not
    /// tell which ids exist.
    /// </summary>
    public bool Verify(string nodeId, string? password)
    {
        ReloadIfChanged();
        string? stored;
        string decoy;
        lock (_gate)
        {
            _hashes.TryGetValue(nodeId, out stored);
            decoy = _decoy;
        }

        bool match = VerifyHash(stored ?? decoy, password ?? "", ref _iterationsSpent);
        return stored != null && password != null && match;
    }

    /// <summary>A PBKDF2-SHA256 hash string for <paramref name="password"/>, as the nodes file holds it.</summary>
    public static string HashPassword(string password, int iterations = 100_000)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(16);
        byte[] hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        return $"{Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>Writes a nodes file for <paramref name="passwords"/> (node id → password).</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, string>> passwords, int iterations = 100_000)
    {
        var nodes = new List<Dictionary<string, string>>();
        foreach (KeyValuePair<string, string> p in passwords)
        {
            nodes.Add(new Dictionary<string, string> { ["id"] = p.Key, ["password"] = HashPassword(p.Value, iterations) });
        }

        Save(path, nodes);
    }

    /// <summary>
    /// Adds <paramref name="nodeId"/> to the nodes file at <paramref name="path"/> (created if missing), or gives it a
    /// new password; every other node is kept. The file is replaced in one rename, so a running gateway never reads
    /// half of it.
    /// </summary>
    public static void AddOrReplace(string path, string nodeId, string password, int iterations = 100_000)
    {
        if (!Topics.IsAssignableNodeId(nodeId))
        {
            throw new ArgumentException(Topics.IsReservedId(nodeId)
                ? $"node id '{nodeId}' is reserved for the gateway (ids starting with 'gateway' or 'tinymlops')"
                : $"node id '{LogText.Safe(nodeId)}' is not 1-64 letters, digits, '-', '_' or '.'", nameof(nodeId));
        }

        var nodes = new List<Dictionary<string, string>>();
        if (File.Exists(path))
        {
            new NodeRegistry(path); // refuses a damaged file rather than overwrite what it cannot read
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (JsonElement node in doc.RootElement.GetProperty("nodes").EnumerateArray())
            {
                string id = node.GetProperty("id").GetString()!;
                if (id != nodeId)
                {
                    nodes.Add(new Dictionary<string, string> { ["id"] = id, ["password"] = node.GetProperty("password").GetString()! });
                }
            }
        }

        nodes.Add(new Dictionary<string, string> { ["id"] = nodeId, ["password"] = HashPassword(password, iterations) });
        Save(path, nodes);
    }

    /// <summary>Removes <paramref name="nodeId"/>'s login from the nodes file at <paramref name="path"/>; false when it had none.</summary>
    public static bool Remove(string path, string nodeId)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        new NodeRegistry(path); // refuses a damaged file rather than overwrite what it cannot read
        var nodes = new List<Dictionary<string, string>>();
        bool found = false;
        using (JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path)))
        {
            foreach (JsonElement node in doc.RootElement.GetProperty("nodes").EnumerateArray())
            {
                string id = node.GetProperty("id").GetString()!;
                found |= id == nodeId;
                if (id != nodeId)
                {
                    nodes.Add(new Dictionary<string, string> { ["id"] = id, ["password"] = node.GetProperty("password").GetString()! });
                }
            }
        }

        if (found)
        {
            Save(path, nodes);
        }

        return found;
    }

    private static void Save(string path, List<Dictionary<string, string>> nodes) =>
        Contracts.SecretFile.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, object> { ["nodes"] = nodes }, new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>Reads the file again.</summary>
    public void Reload()
    {
        if (!File.Exists(_path))
        {
            throw new InvalidDataException($"nodes file {_path} does not exist");
        }

        DateTime stamp = File.GetLastWriteTimeUtc(_path);
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(_path));
            foreach (JsonElement node in doc.RootElement.GetProperty("nodes").EnumerateArray())
            {
                string id = node.GetProperty("id").GetString() ?? "";
                string hash = node.GetProperty("password").GetString() ?? "";
                if (!Topics.IsValidNodeId(id))
                {
                    throw new InvalidDataException($"node id '{LogText.Safe(id)}' is not 1-64 letters, digits, '-', '_' or '.'");
                }

                if (Topics.IsReservedId(id))
                {
                    throw new InvalidDataException($"node id '{id}' is reserved for the gateway (ids starting with 'gateway' or 'tinymlops'); remove it");
                }

                if (!hash.StartsWith(Scheme + "$", StringComparison.Ordinal) || hash.Split('$').Length != 4)
                {
                    throw new InvalidDataException($"node '{id}': password must be a {Scheme}$iterations$salt$hash string (see NodeRegistry.HashPassword)");
                }

                if (!hashes.TryAdd(id, hash))
                {
                    throw new InvalidDataException($"node '{id}' is listed twice");
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"nodes file {_path}: {e.Message}", e);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"nodes file {_path}: {e.Message}", e);
        }

        // The decoy that unknown ids are checked against costs what the file's own hashes cost.
        int iterations = 100_000;
        foreach (string h in hashes.Values)
        {
            if (int.TryParse(h.Split('$')[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n is > 0 and <= 10_000_000)
            {
                iterations = n;
                break;
            }
        }

        string decoy = _decoy.Split('$')[1] == iterations.ToString(System.Globalization.CultureInfo.InvariantCulture)
            ? _decoy : HashPassword(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)), iterations);
        lock (_gate)
        {
            _hashes = hashes;
            _decoy = decoy;
            _loadedStamp = stamp;
        }
    }

    private void ReloadIfChanged()
    {
        try
        {
            if (File.GetLastWriteTimeUtc(_path) != _loadedStamp)
            {
                Reload();
            }
        }
        catch (InvalidDataException)
        {
            // A half-written or broken file keeps the last good list.
        }
    }

    private static bool VerifyHash(string stored, string password, ref long iterationsSpent)
    {
        string[] p = stored.Split('$');
        if (!int.TryParse(p[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int iterations) || iterations < 1 || iterations > 10_000_000)
        {
            return false;
        }

        try
        {
            byte[] salt = Convert.FromBase64String(p[2]);
            byte[] expected = Convert.FromBase64String(p[3]);
            System.Threading.Interlocked.Add(ref iterationsSpent, iterations);
            byte[] actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
            return CryptographicOperations.FixedTimeEquals(actual, expected);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
