using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using TinyMlops.Registry;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops rollout start|status|pause|resume|abort</c> on the registry or through a trainer service
/// (<c>--trainer URL</c>): staged rollouts of a release
/// (<see cref="RolloutPlan"/>), which gateways follow through the trainer service.
/// </summary>
public static class RolloutCommand
{
    /// <summary><c>rollout start --board-class N [--sequence S] [--groups 1,10%,50%,100%] [--success X] [--abort X] [--registry DIR]</c>.</summary>
    public static int Start(Options o)
    {
        if (o.Get("board-class") == null)
        {
            throw new UsageException("--board-class is required");
        }

        int boardClass = o.GetInt("board-class", 0);
        long? given = o.Get("sequence") is { } s ? long.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture) : null;
        string[] groups;
        try
        {
            groups = RolloutPlan.ParseGroups(o.Get("groups") ?? "1,10%,50%,100%");
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        double success = o.GetDouble("success", 0.95), abort = o.GetDouble("abort", 0.1);
        if (success > 1 || abort > 1)
        {
            throw new UsageException("--success and --abort are shares of a group's nodes, at most 1");
        }

        Rollout r;
        using (TrainerClient? trainer = TrainerClient.From(o))
        {
            if (trainer != null)
            {
                r = trainer.Post<Rollout>("api/admin/rollouts", new { boardClass, sequence = given, groups = string.Join(",", groups), success, abort });
            }
            else
            {
                using ModelRegistry registry = Open(o);
                long sequence = given ?? registry.LatestReleases([boardClass]).FirstOrDefault()?.Sequence ?? throw new CliException($"board class {boardClass} has no release: 'tinymlops release' one first");
                try
                {
                    r = registry.StartRollout(boardClass, sequence, groups, success, abort);
                }
                catch (InvalidOperationException e)
                {
                    throw new CliException(e.Message);
                }
            }
        }

        Console.WriteLine($"rollout {r.Id}: release {r.Sequence} ({r.Version}) of board class {r.BoardClass} in groups {string.Join(", ", r.Groups)}; next group when {r.SuccessThreshold:P0} of one confirm, abort when more than {r.AbortFailureRate:P0} fail");
        return 0;
    }

    /// <summary><c>rollout status [--id N] [--registry DIR]</c>: the newest rollout (or N), each group and each node.</summary>
    public static int Status(Options o)
    {
        (Rollout r, IReadOnlyList<RolloutNode> nodes) = View(o);
        Console.WriteLine($"rollout {r.Id}: release {r.Sequence} ({r.Version}) of board class {r.BoardClass}: {r.State.ToUpperInvariant()} at group {r.CurrentGroup + 1} of {r.Groups.Count} ({r.Reason}), since {r.Updated:yyyy-MM-dd HH:mm:ss}");
        for (int g = 0; g < r.Groups.Count; g++)
        {
            var members = nodes.Where(n => n.Group == g).ToList();
            Console.WriteLine($"  group {g + 1} ({r.Groups[g]}, {members.Count} nodes{(g == r.CurrentGroup && r.State == "running" ? ", current" : "")}): {members.Count(n => n.State == "confirmed")} confirmed, {members.Count(n => n.State == "failed")} failed, {members.Count(n => !RolloutPlan.IsFinished(n.State))} open");
        }

        Console.WriteLine($"{"node",-24} {"gateway",-16} {"group",5} {"state",-12} {"offers",6}  last error");
        foreach (RolloutNode n in nodes)
        {
            Console.WriteLine($"{n.Node,-24} {n.Gateway,-16} {n.Group + 1,5} {n.State,-12} {n.Attempts,6}  {n.LastError ?? "-"}");
        }

        return 0;
    }

    /// <summary><c>rollout pause|resume|abort [--id N] --reason TEXT [--registry DIR]</c>.</summary>
    public static int Change(Options o, string state)
    {
        Rollout r = View(o).Rollout;
        using (TrainerClient? trainer = TrainerClient.From(o))
        {
            if (trainer != null)
            {
                r = trainer.Post<Rollout>($"api/admin/rollouts/{r.Id}/state", new { target = state, reason = o.Get("reason") });
            }
            else
            {
                using ModelRegistry registry = Open(o);
                try
                {
                    r = registry.SetRolloutState(r.Id, state, o.Get("reason")!);
                }
                catch (InvalidOperationException e)
                {
                    throw new CliException(e.Message);
                }
            }
        }

        Console.WriteLine($"rollout {r.Id} is {r.State}: {r.Reason}");
        return 0;
    }

    private static ModelRegistry Open(Options o) => ModelRegistry.Open(o.Get("registry") ?? "registry");

    /// <summary>The newest rollout (or <c>--id</c>) with its nodes, from the trainer or the registry.</summary>
    private static RolloutView View(Options o)
    {
        long? id = o.Get("id") is { } s ? long.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture) : null;
        using (TrainerClient? trainer = TrainerClient.From(o))
        {
            if (trainer != null)
            {
                return trainer.Get<RolloutView>("api/admin/rollouts/current" + (id is long i ? $"?id={i}" : ""));
            }
        }

        using ModelRegistry registry = Open(o);
        Rollout r = registry.Rollouts(null).FirstOrDefault(r => id == null || r.Id == id)
            ?? throw new CliException(id == null ? "there is no rollout yet: 'tinymlops rollout start' one" : $"there is no rollout {id}");
        return new RolloutView(r, registry.RolloutNodes(r.Id));
    }
}
