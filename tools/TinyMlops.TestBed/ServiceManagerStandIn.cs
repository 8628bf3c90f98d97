using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace TinyMlops.TestBed;

/// <summary>
/// Does for the gateway what <c>gateway/deploy/tinymlops-gateway.service</c> asks of systemd, where there is no
/// systemd: before every start it runs the boot check (<c>ExecStartPre</c>, the real script), then starts the real
/// gateway through the install root's <c>current</c> link (<c>ExecStart</c>), and starts it again whenever it exits
/// (<c>Restart=always</c>, <c>RestartSec</c>). Settings go in as environment variables, as <c>EnvironmentFile=</c>
/// would give them. What it did is kept for the test to read.
/// </summary>
public sealed class ServiceManagerStandIn : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _journal = [];
    private readonly Task _loop;
    private GatewayProcess? _current;

    private ServiceManagerStandIn(string bootScript, string root, int limit, IReadOnlyDictionary<string, string?> settings, int httpPort, TimeSpan restartDelay)
    {
        _loop = Task.Run(() => RunAsync(bootScript, root, limit, settings, httpPort, restartDelay));
    }

    /// <summary>The process running now (null between starts).</summary>
    public GatewayProcess? Current => Volatile.Read(ref _current);

    /// <summary>Exit codes of the gateway processes that ended, in order.</summary>
    public List<int> ExitCodes { get; } = [];

    /// <summary>Gateway processes started.</summary>
    public int Starts { get; private set; }

    /// <summary>Boot-check output and each process's end (for failure messages).</summary>
    public string Journal
    {
        get
        {
            lock (_journal)
            {
                return string.Join("\n", _journal);
            }
        }
    }

    /// <summary>Starts managing the gateway installed under <paramref name="root"/>.</summary>
    public static ServiceManagerStandIn Start(string bootScript, string root, int limit, IReadOnlyDictionary<string, string?> settings, int httpPort) =>
        new(bootScript, root, limit, settings, httpPort, TimeSpan.FromMilliseconds(500));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Current?.Dispose();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RunAsync(string bootScript, string root, int limit, IReadOnlyDictionary<string, string?> settings, int httpPort, TimeSpan restartDelay)
    {
        CancellationToken ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            var boot = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            boot.ArgumentList.Add(bootScript);
            boot.ArgumentList.Add(root);
            boot.ArgumentList.Add(limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using (Process check = Process.Start(boot)!)
            {
                string said = await check.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false) + await check.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
                await check.WaitForExitAsync(ct).ConfigureAwait(false);
                Log($"boot check exit {check.ExitCode}: {said.Trim()}");
                if (check.ExitCode != 0)
                {
                    await Task.Delay(restartDelay, ct).ConfigureAwait(false); // systemd: a failed ExecStartPre fails the start
                    continue;
                }
            }

            string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            GatewayProcess p = GatewayProcess.Start(settings, httpPort, [dotnet, Path.Combine(root, "current", "tinymlops-gateway.dll")]);
            Starts++;
            Volatile.Write(ref _current, p);
            int code;
            try
            {
                code = await p.WaitForExitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Volatile.Write(ref _current, null);
            lock (ExitCodes)
            {
                ExitCodes.Add(code);
            }

            string output = p.Output;
            Log($"gateway exit {code}{(code != 0 ? ": " + output[Math.Max(0, output.Length - 600)..] : "")}");
            p.Dispose();
            await Task.Delay(restartDelay, ct).ConfigureAwait(false);
        }
    }

    private void Log(string line)
    {
        lock (_journal)
        {
            _journal.Add(line);
        }
    }
}
