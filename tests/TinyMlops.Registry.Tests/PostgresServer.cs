using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace TinyMlops.Registry.Tests;

/// <summary>Runs only where PostgreSQL's server programs are installed (.ci/run installs them); says so when not.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (PostgresServer.BinDirectory == null)
        {
            Skip = "PostgreSQL's server (initdb, pg_ctl) is not installed (apt-get install postgresql; .ci/run does)";
        }
    }
}

[CollectionDefinition(Collection)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Collection = "postgresql server";
}

/// <summary>
/// A real PostgreSQL server of its own for the tests: a fresh cluster in a temporary folder, on a free loopback port,
/// with its socket in that folder, stopped and deleted afterwards. PostgreSQL refuses to run as root, so as root the
/// cluster belongs to, and the server runs as, the <c>postgres</c> user the package creates.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private readonly string? _root;
    private int _databases;

    public PostgresServer()
    {
        if (BinDirectory == null)
        {
            return; // every test here is skipped
        }

        _root = Path.Combine(Path.GetTempPath(), "tinymlops-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_root);
        string data = Path.Combine(_root, "data");
        if (Environment.UserName == "root" && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_root, (UnixFileMode)0b111_101_101);
            Run("chown", "postgres", _root);
        }

        Port = FreePort();
        AsServerUser(Path.Combine(BinDirectory, "initdb"), "-D", data, "-U", "tinymlops", "-A", "trust", "-E", "UTF8", "--no-sync");
        AsServerUser(Path.Combine(BinDirectory, "pg_ctl"), "-D", data, "-l", Path.Combine(_root, "server.log"), "-w", "-t", "60",
            "-o", $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", "start");
    }

    /// <summary>The folder of initdb and pg_ctl (the highest installed version), or null.</summary>
    public static string? BinDirectory { get; } = Directory.Exists("/usr/lib/postgresql")
        ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out int v) ? v : 0)
            .Select(d => Path.Combine(d, "bin")).FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")))
        : null;

    public int Port { get; }

    /// <summary>A new, empty database on the server; its connection string.</summary>
    public string NewDatabase()
    {
        string name = $"registry_{System.Threading.Interlocked.Increment(ref _databases)}";
        using (var db = new NpgsqlConnection(Connection("postgres")))
        {
            db.Open();
            using NpgsqlCommand c = db.CreateCommand();
            c.CommandText = $"CREATE DATABASE {name};";
            c.ExecuteNonQuery();
        }

        return Connection(name);
    }

    public string Connection(string database) => $"Host=127.0.0.1;Port={Port};Username=tinymlops;Database={database}";

    public void Dispose()
    {
        if (_root == null)
        {
            return;
        }

        try
        {
            AsServerUser(Path.Combine(BinDirectory!, "pg_ctl"), "-D", Path.Combine(_root, "data"), "-m", "immediate", "-w", "stop");
        }
        finally
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static void AsServerUser(string program, params string[] args)
    {
        if (Environment.UserName == "root")
        {
            Run("runuser", ["-u", "postgres", "--", program, .. args]);
        }
        else
        {
            Run(program, args);
        }
    }

    private static void Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using Process p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({p.ExitCode}): {output}");
        }
    }
}
