// The learnstream dashboard: the named trend queries of /api/v1 drawn with ECharts (installed by `make setup`,
// served by `learnstream serve`, no CDN). The page's query string holds the same parameters as the API and
// `learnstream trends`, so a view is shared by its address. Withheld figures (about fewer than k people, or
// giving one away) are drawn as withheld, never as zero and never left out silently.
"use strict";

(() => {
  const API = "/api/v1/trends/";
  const LISTS = ["team", "department", "topic", "source"];
  const SINGLE = ["since", "until", "granularity"];
  const TOTAL = "(all)";
  const WITHHELD = "withheld";
  const GREY = "#b9bfca";
  const TOP_TEAMS = 8; // lines in the activity chart
  const TOP_FLOW = 20; // teams in the knowledge-flow matrix
  const TOP_TOPICS = 15;
  const TOP_WAIT = 6;
  const TOKEN_KEY = "learnstream-api-token";
  const charts = {};
  // For tests and the benchmark: when every chart of the last load was drawn, and how long that took.
  const progress = (window.learnstreamDashboard = { rendered: false, renderMs: null, error: null, loads: 0 });
  // The page loads this script before the charting library, so the answers are asked for while the browser parses
  // the library (a few hundred milliseconds); drawing waits for both. Synchronous scripts all run before
  // DOMContentLoaded.
  const libraryLoaded =
    document.readyState === "loading"
      ? new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve, { once: true }))
      : Promise.resolve();

  // --- parameters: the address is the state -------------------------------------------------------------------

  // The last day of the last whole period before today (UTC): a period still running would look like a fall.
  function lastWholeDay(granularity) {
    const today = new Date();
    const day = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()));
    if (granularity === "week") day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
    if (granularity === "month") day.setUTCDate(1);
    if (granularity === "quarter") day.setUTCMonth(day.getUTCMonth() - (day.getUTCMonth() % 3), 1);
    day.setUTCDate(day.getUTCDate() - 1);
    return day.toISOString().slice(0, 10);
  }

  // The API's parameters: the address's, with `until` at the last whole period when the address sets none.
  function apiParams(params) {
    const asked = new URLSearchParams(params);
    if (!asked.get("until")) asked.set("until", lastWholeDay(asked.get("granularity") || "week"));
    return asked;
  }

  function currentParams() {
    const given = new URLSearchParams(window.location.search);
    const params = new URLSearchParams();
    for (const name of SINGLE) {
      if (given.get(name)) params.set(name, given.get(name));
    }
    for (const name of LISTS) {
      for (const value of given.getAll(name)) {
        if (value.trim()) params.append(name, value.trim());
      }
    }
    return params;
  }

  function fillForm(form, params) {
    for (const name of SINGLE) form.elements[name].value = params.get(name) || (name === "granularity" ? "week" : "");
    for (const name of LISTS) form.elements[name].value = params.getAll(name).join(", ");
  }

  function formParams(form) {
    const params = new URLSearchParams();
    for (const name of SINGLE) {
      const value = form.elements[name].value.trim();
      if (value && !(name === "granularity" && value === "week")) params.set(name, value);
    }
    for (const name of LISTS) {
      for (const value of form.elements[name].value.split(",")) {
        if (value.trim()) params.append(name, value.trim());
      }
    }
    return params;
  }

  // --- the API ----------------------------------------------------------------------------------------------------

  class NeedsToken extends Error {}

  async function answer(query, params) {
    const headers = { Accept: "application/json" };
    const token = window.sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${API}${query}?${params}`, { headers });
    if (response.status === 401) throw new NeedsToken("this server needs an API token");
    const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (response.status === 403) throw new NeedsToken(`${query}: ${body.error || "this token may not read it"}`);
    if (!response.ok) throw new Error(`${query}: ${body.error || response.status}`);
    return body;
  }

  // --- drawing helpers ----------------------------------------------------------------------------------------------

  function chart(id) {
    if (!charts[id]) {
      charts[id] = echarts.init(document.getElementById(id), null, { renderer: "svg" });
      window.addEventListener("resize", () => charts[id].resize());
    }
    return charts[id];
  }

  function released(row, measure) {
    return row[measure] !== null && row[measure] !== undefined && !row.withheld.includes(measure);
  }

  function shown(team) {
    return team || "(unresolved)";
  }

  // A blue scale from the smallest to the largest released value.
  function shade(value, low, high) {
    const share = high > low ? (value - low) / (high - low) : 1;
    const light = Math.round(92 - share * 52);
    return `hsl(216, 70%, ${light}%)`;
  }

  function ranked(names, weight, top) {
    return [...names].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b)).slice(0, top);
  }

  function setNote(id, text) {
    document.getElementById(id).textContent = text;
  }

  function draw(id, option) {
    const target = chart(id);
    target.clear();
    target.setOption({ animation: false, aria: { enabled: true }, ...option });
    return target;
  }

  function empty(id, text) {
    draw(id, {
      graphic: { type: "text", left: "center", top: "middle", style: { text, fill: "#5b6576", fontSize: 14 } },
    });
  }

  // One heatmap of released cells (shaded, labelled with their value) and one of withheld cells (grey, labelled
  // "withheld"): a withheld cell is visibly there, not an empty square or a zero.
  function heatmap(id, xNames, yNames, cells, xTitle, yTitle) {
    const values = cells.filter((cell) => cell.value !== null).map((cell) => cell.value);
    const low = Math.min(...values, 0);
    const high = Math.max(...values, 1);
    const point = (cell) => [xNames.indexOf(cell.x), yNames.indexOf(cell.y), cell.value ?? 0];
    const open = cells
      .filter((cell) => cell.value !== null)
      .map((cell) => ({ value: point(cell), itemStyle: { color: shade(cell.value, low, high) } }));
    const hidden = cells.filter((cell) => cell.value === null).map((cell) => ({ value: point(cell) }));
    draw(id, {
      tooltip: {
        formatter: (item) =>
          `${yTitle} ${yNames[item.value[1]]}, ${xTitle} ${xNames[item.value[0]]}: ` +
          (item.seriesName === WITHHELD ? WITHHELD : item.value[2]),
      },
      grid: { left: 110, right: 10, top: 10, bottom: 90 },
      xAxis: { type: "category", data: xNames, name: xTitle, nameLocation: "middle", nameGap: 70, axisLabel: { rotate: 45, interval: 0 } },
      yAxis: { type: "category", data: yNames, name: yTitle, axisLabel: { interval: 0 } },
      series: [
        {
          name: "released",
          type: "heatmap",
          data: open,
          label: { show: true, formatter: (item) => String(item.value[2]), fontSize: 10 },
        },
        {
          name: WITHHELD,
          type: "heatmap",
          data: hidden,
          itemStyle: { color: GREY },
          label: { show: true, formatter: WITHHELD, fontSize: 8, color: "#fff" },
        },
      ],
    });
  }

  // Lines over the periods, one per team, each ending in a label with its last value; withheld points are gaps
  // in the line and grey diamonds on the axis.
  function lines(id, periods, teams, valueOf, unit) {
    const series = teams.map((team) => ({
      name: team,
      type: "line",
      connectNulls: false,
      showSymbol: true,
      symbolSize: 5,
      data: periods.map((period) => valueOf(team, period)),
      endLabel: { show: true, formatter: (item) => `${item.seriesName}: ${item.value ?? WITHHELD}` },
    }));
    const gaps = [];
    for (const team of teams) {
      for (const period of periods) {
        if (valueOf(team, period) === null) gaps.push({ value: [period, 0], team });
      }
    }
    series.push({
      name: WITHHELD,
      type: "scatter",
      symbol: "diamond",
      symbolSize: 8,
      itemStyle: { color: GREY },
      data: gaps,
      tooltip: { formatter: (item) => `${item.data.team}, ${item.value[0]}: ${WITHHELD}` },
    });
    draw(id, {
      tooltip: { trigger: "item" },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 50, right: 170, top: 20, bottom: 50 },
      xAxis: { type: "category", data: periods, boundaryGap: false },
      yAxis: { type: "value", name: unit },
      series,
    });
    return gaps.length;
  }

  // --- the charts ---------------------------------------------------------------------------------------------------

  function drawActivity(document_) {
    const totals = document_.rows.filter((row) => row.category === TOTAL);
    const periods = [...new Set(document_.rows.map((row) => row.period))].sort();
    if (!periods.length) {
      empty("trend", "No learning events in this range");
      empty("heatmap", "No learning events in this range");
      setNote("trend-note", "");
      return;
    }
    const byTeam = new Map();
    for (const row of totals) {
      if (!byTeam.has(row.team)) byTeam.set(row.team, new Map());
      byTeam.get(row.team).set(row.period, released(row, "events") ? row.events : null);
    }
    const weight = (team) => [...byTeam.get(team).values()].reduce((sum, value) => sum + (value || 0), 0);
    const teams = ranked(byTeam.keys(), weight, TOP_TEAMS);
    const withheld = lines("trend", periods, teams, (team, period) => byTeam.get(team).get(period) ?? null, "events");
    setNote(
      "trend-note",
      `${teams.length} of ${byTeam.size} teams (the most active; filter by team for others)` +
        (withheld ? ` · ${withheld} team-periods withheld` : ""),
    );

    const last = periods[periods.length - 1];
    document.getElementById("heatmap-period").textContent = `(${document_.granularity} of ${last})`;
    const active = new Set(ranked(byTeam.keys(), (team) => byTeam.get(team).get(last) || 0, TOP_FLOW));
    const cells = document_.rows
      .filter((row) => row.period === last && row.category !== TOTAL && active.has(row.team))
      .map((row) => ({ x: row.category, y: shown(row.team), value: released(row, "events") ? row.events : null }));
    const categories = [...new Set(cells.map((cell) => cell.x))].sort();
    const rowsTeams = [...new Set(cells.map((cell) => cell.y))].sort().reverse();
    heatmap("heatmap", categories, rowsTeams, cells, "category", "team");
    setNote(
      "heatmap-note",
      active.size < byTeam.size ? `${active.size} of ${byTeam.size} teams (the most events in the period)` : "",
    );
  }

  function drawFlow(document_) {
    const rows = document_.rows;
    if (!rows.length) {
      empty("flow", "No answers between teams in this range");
      setNote("flow-note", "");
      return;
    }
    const weight = new Map();
    for (const row of rows) {
      const answers = released(row, "answers") ? row.answers : 0;
      for (const team of [shown(row.asker_team), shown(row.answerer_team)]) weight.set(team, (weight.get(team) || 0) + answers);
    }
    const teams = ranked(weight.keys(), (team) => weight.get(team), TOP_FLOW);
    const kept = new Set(teams);
    const cells = rows
      .filter((row) => kept.has(shown(row.asker_team)) && kept.has(shown(row.answerer_team)))
      .map((row) => ({
        x: shown(row.answerer_team),
        y: shown(row.asker_team),
        value: released(row, "answers") ? row.answers : null,
      }));
    const sorted = [...teams].sort();
    heatmap("flow", sorted, [...sorted].reverse(), cells, "answered by", "asked by");
    setNote(
      "flow-note",
      weight.size > teams.length
        ? `${teams.length} of ${weight.size} teams (the most answers); filter by team for others`
        : `${weight.size} teams; rows ask, columns answer`,
    );
  }

  function drawTopics(document_) {
    const rows = document_.rows.slice(0, TOP_TOPICS);
    if (!rows.length) {
      empty("topics", "No topics in this range");
      return;
    }
    document.getElementById("topics-period").textContent = `(${document_.granularity} of ${rows[0].period} vs the one before)`;
    const names = rows.map((row) => row.topic).reverse();
    const ordered = [...rows].reverse();
    draw("topics", {
      tooltip: {
        formatter: (item) => {
          const row = ordered[item.dataIndex];
          return released(row, "change") ? `${row.topic}: ${row.events} (${row.change >= 0 ? "+" : ""}${row.change})` : `${row.topic}: ${WITHHELD}`;
        },
      },
      grid: { left: 120, right: 60, top: 10, bottom: 30 },
      xAxis: { type: "value", name: "events", axisLabel: { show: false } }, // every bar carries its value
      yAxis: { type: "category", data: names, axisLabel: { interval: 0 } },
      series: [
        {
          type: "bar",
          data: ordered.map((row) =>
            released(row, "events")
              ? {
                  value: row.events,
                  itemStyle: { color: !released(row, "change") ? "#7a8597" : row.change >= 0 ? "#2e8b57" : "#c0392b" },
                }
              : { value: 0, itemStyle: { color: GREY }, withheld: true },
          ),
          label: {
            show: true,
            position: "right",
            formatter: (item) => (item.data.withheld ? WITHHELD : String(item.value)),
          },
        },
      ],
    });
  }

  function drawWait(document_) {
    const rows = document_.rows;
    const periods = [...new Set(rows.map((row) => row.period))].sort();
    if (!periods.length) {
      empty("wait", "No questions in this range");
      setNote("wait-note", "");
      return;
    }
    const byTeam = new Map();
    const asked = new Map();
    for (const row of rows) {
      const team = shown(row.team);
      if (!byTeam.has(team)) byTeam.set(team, new Map());
      const minutes = released(row, "median_wait_s") ? Math.round(row.median_wait_s / 6) / 10 : null;
      byTeam.get(team).set(row.period, minutes);
      asked.set(team, (asked.get(team) || 0) + (released(row, "questions") ? row.questions : 0));
    }
    const teams = ranked(byTeam.keys(), (team) => asked.get(team), TOP_WAIT);
    const withheld = lines("wait", periods, teams, (team, period) => byTeam.get(team).get(period) ?? null, "minutes");
    setNote(
      "wait-note",
      `${teams.length} of ${byTeam.size} teams (the most questions)` + (withheld ? ` · ${withheld} team-periods withheld or unanswered` : ""),
    );
  }

  // --- loading ------------------------------------------------------------------------------------------------------

  async function load() {
    const started = performance.now();
    progress.rendered = false;
    progress.error = null;
    const params = currentParams();
    fillForm(document.getElementById("filters"), params);
    const status = document.getElementById("status");
    status.className = "";
    status.textContent = "Loading…";
    try {
      const answers = Promise.all(
        ["activity", "knowledge-flow", "topics", "time-to-answer"].map((query) => answer(query, apiParams(params))),
      );
      const [[activity, flow, topics, wait]] = await Promise.all([answers, libraryLoaded]);
      if (typeof echarts === "undefined") throw new Error("the charting library did not load: run `make setup`");
      const fetched = performance.now();
      progress.drawMs = {};
      for (const [name, drawOne, document_] of [
        ["activity", drawActivity, activity],
        ["knowledge-flow", drawFlow, flow],
        ["topics", drawTopics, topics],
        ["time-to-answer", drawWait, wait],
      ]) {
        const began = performance.now();
        drawOne(document_);
        progress.drawMs[name] = Math.round(performance.now() - began);
      }
      document.getElementById("k").textContent = String(activity.min_group_size);
      const filters = Object.entries(activity.filters).map(([name, values]) => `${name} ${values.join(", ")}`);
      status.textContent =
        `${activity.since} to ${activity.until} by ${activity.granularity}` +
        (filters.length ? ` · ${filters.join(" · ")}` : "") +
        ` · classifier ${activity.classifier_version} · figures about fewer than ${activity.min_group_size} people withheld`;
      progress.fetchMs = fetched - started;
      await new Promise((resolve) => window.requestAnimationFrame(() => resolve()));
      progress.renderMs = performance.now() - started;
      if (progress.shownAtMs === undefined) progress.shownAtMs = performance.now(); // since navigation started
      progress.rendered = true;
    } catch (error) {
      if (error instanceof NeedsToken) document.getElementById("token").hidden = false;
      status.className = "error";
      status.textContent = error.message;
      progress.error = error.message;
    } finally {
      progress.loads += 1;
    }
  }

  function start() {
    const filters = document.getElementById("filters");
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      const query = formParams(filters).toString();
      window.history.pushState(null, "", query ? `?${query}` : window.location.pathname);
      load();
    });
    document.getElementById("share").addEventListener("click", () => navigator.clipboard?.writeText(window.location.href));
    document.getElementById("token").addEventListener("submit", (event) => {
      event.preventDefault();
      window.sessionStorage.setItem(TOKEN_KEY, event.target.elements.token.value.trim());
      event.target.hidden = true;
      load();
    });
    window.addEventListener("popstate", load);
    load();
  }

  start();
})();
