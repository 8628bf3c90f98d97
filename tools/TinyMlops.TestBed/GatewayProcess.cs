using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Threading.Tasks;

namespace TinyMlops.TestBed;

/// <summary>
/// The gateway as its own operating-system process (the <c>tinymlops-gateway.dll</c> built beside this program, or
/// a published build), so a benchmark can measure it apart from the load it puts on it and a test can kill it the
/// way power loss or the OOM killer would. Settings go in as environment variables (<c>Gateway__Mqtt__Port</c> …),
/// the way systemd's <c>Environment=</c> lines would give them.
/// </summary>
public sealed class GatewayProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private GatewayProcess(Process process, int httpPort)
    {
        _process = process;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = TimeSpan.FromSeconds(10) };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public HttpClient Http { get; }

    /// <summary>A loopback TCP port free at the moment of asking (for the gateway's listeners and their peers).</summary>
    public static int FreeLoopbackPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Process id.</summary>
    public int Id => _process.Id;

    /// <summary>What the process printed so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="command"/> (program and arguments; null: <c>dotnet tinymlops-gateway.dll</c> from this
    /// program's folder) with <paramref name="settings"/> (configuration keys with ':') as environment variables.
    /// </summary>
    public static GatewayProcess Start(IReadOnlyDictionary<string, string?> settings, int httpPort, IReadOnlyList<string>? command = null)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (command == null)
        {
            start.FileName = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tinymlops-gateway.dll"));
        }
        else
        {
            start.FileName = command[0];
            foreach (string argument in command.Skip(1))
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach ((string key, string? value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value ?? "";
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return new GatewayProcess(Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}"), httpPort);
    }

    /// <summary>Waits until <c>/health</c> answers 200; throws with the process's output if it exits or takes too long.</summary>
    public async Task<string> WaitHealthy(double seconds = 30)
    {
        DateTime end = DateTime.UtcNow.AddSeconds(seconds);
        string last = "no answer";
        while (DateTime.UtcNow < end)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the gateway exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                using HttpResponseMessage r = await Http.GetAsync("health");
                last = $"{(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}";
                if (r.IsSuccessStatusCode)
                {
                    return last;
                }
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }
            catch (TaskCanceledException)
            {
                last = "timed out";
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"the gateway was not healthy after {seconds} s (last: {last}):\n{Output}");
    }

    /// <summary>Waits for the process to end and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(System.Threading.CancellationToken ct)
    {
        await _process.WaitForExitAsync(ct).ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed that was not already on disk.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: false); // kill(pid, SIGKILL) on Linux
        _process.WaitForExit();
    }

    public void Dispose()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line == null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 200_000)
            {
                _output.AppendLine(line);
            }
        }
    }
}
