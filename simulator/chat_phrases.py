"""What simulated people write in Slack: templates with `{topic}`, `{verb}`, `{cmd}`, `{team}`, `{url}`, `{link}`
and `{user}` slots, phrased the many ways people ask, answer, thank and chat (not every question has a '?', and
not every '?' is a question)."""

from __future__ import annotations

TOPICS = (
    "the deploy pipeline", "kafka consumer lag", "the VPN", "expense reports", "the staging database",
    "feature flags", "terraform state", "the onboarding checklist", "SSO login", "the quarterly planning doc",
    "the CI cache", "flaky integration tests", "the billing export", "PTO requests", "the design system",
    "the Grafana dashboards", "the on-call rota", "API rate limits", "the churn report", "laptop setup",
    "the pricing page", "docker image builds", "the data warehouse", "access to prod logs", "the release checklist",
    "OKR drafts", "the invoice template", "the support macros", "slow SQL queries", "push notifications",
    "the search index", "secrets rotation", "the travel policy", "the contract template", "load testing",
    "the incident runbook", "the analytics events", "k8s resource limits", "the sales deck", "the CRM export",
)  # fmt: skip
VERBS = ("set up", "debug", "get access to", "update", "configure", "roll back", "find", "speed up", "request", "test")
COMMANDS = ("rotate-keys", "bootstrap", "db-migrate", "clean-cache", "login", "refresh-token")
QUESTIONS = (
    "how do I {verb} {topic}?",
    "does anyone know how to {verb} {topic}?",
    "does anyone know who owns {topic}",
    "any ideas on {topic}?",
    "any ideas on why {topic} is so slow today",
    "pls help with {topic}",
    "pls help with {topic}, I'm stuck",
    "is {topic} down?",
    "is there a way to {verb} {topic}?",
    "can someone explain {topic} to me?",
    "where can I find the docs for {topic}?",
    "what's the right way to {verb} {topic}?",
    "quick q: should I {verb} {topic} before the release?",
    "has anyone managed to {verb} {topic}? getting a permission error",
    "stuck trying to {verb} {topic}, anyone around",
    "why does {topic} keep failing?",
    "do we still use {topic}?",
    "who can approve changes to {topic}",
    "trying to {verb} {topic} but the docs seem outdated. hints welcome",
    "could someone review my change to {topic}?",
)
ANSWERS = (
    "you need to {verb} {topic} first, then it works",
    "check the runbook: {url}",
    "I think the {team} team owns that, they know {topic} best",
    "run `make {cmd}` and it should pick it up",
    "yes, it has been flaky since the last release",
    "no, that's expected while {topic} is being migrated",
    "had the same issue last week, clearing the cache fixed it",
    "there's a page on the wiki about this: {url}",
    "try restarting the agent and logging in again",
    "it's in the admin console under settings, you need the editor role",
    "this explains it well: <{link}>",
    "I can pair with you on it after lunch if you like",
    "ask in the {team} channel, they changed {topic} recently",
    "use the new form, the old one for {topic} was retired in May",
)
FOLLOW_UPS = (
    "hmm, still getting the same error",
    "and what about prod?",
    "ok trying that now",
    "where do I find the role settings?",
    "got it, one more thing: does that also apply to {topic}?",
    "I did that already, no luck",
)
THANKS = (
    "thanks!",
    "ty",
    "that worked",
    "thank you so much",
    "cheers, that did it",
    "perfect, thx",
    "that worked, thanks <@{user}>",
    "much appreciated",
    "ty! that helped",
)
REPLIES = (
    "nice!", "+1", "sounds good", "congrats :tada:", "on it", "same here", "lol", "see you there", "noted",
    "works for me", "agreed", "will do", "good call",
)  # fmt: skip
STATEMENTS = (
    "deployed a fix for {topic} to staging",
    "standup in 5",
    "I'm out tomorrow afternoon",
    "merged the change to {topic}",
    "heads up: {topic} maintenance tonight at 20:00",
    "lunch anyone",
    "good morning all",
    "reviewing PRs for {topic} now",
    "finished the write-up on {topic}",
    "{topic} looks healthy again",
    "great demo today, well done everyone",
    "pushing the work on {topic} to next sprint",
    "coffee break, back in 15",
    "wrong channel, sorry",
    "working from the Berlin office today",
)
LINK_POSTS = (
    "worth a read: <{url}>",
    "nice write-up on {topic}: <{url}|this article>",
    "TIL <{url}>",
    "this helped me with {topic}: <{url}>",
    "sharing the slides from today <{url}>",
)
FILE_POSTS = ("here's the diagram for {topic}", "screenshot of the error", "notes on {topic}", "")
TEACHING = (
    "I'll run a lunch and learn on {topic} on Thursday, all welcome",
    "office hours for {topic} tomorrow at 15:00",
    "doing a walkthrough of {topic} after standup if anyone wants to join",
    "I'll demo {topic} at the all-hands",
)
EDIT_SUFFIXES = ("(on staging)", "- sorry, prod", "fwiw", "(edit: typo)", "for the EU region", "as of today")
EXTERNAL_LINKS = (
    "https://martinfowler.com/articles/feature-toggles.html",
    "https://docs.python.org/3/library/asyncio.html",
    "https://kafka.apache.org/documentation/#consumerconfigs",
    "https://clickhouse.com/docs/en/guides/improving-query-performance/sparse-primary-indexes",
    "https://developer.hashicorp.com/terraform/language/state",
    "https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/",
    "https://sre.google/sre-book/postmortem-culture/",
    "https://www.nngroup.com/articles/ten-usability-heuristics/",
    "https://12factor.net/config",
    "https://api.slack.com/apis/events-api",
)
FILE_KINDS = (
    ("png", "image/png", "PNG"),
    ("pdf", "application/pdf", "PDF"),
    ("jpg", "image/jpeg", "JPEG"),
    ("csv", "text/csv", "CSV"),
    ("text", "text/plain", "Plain Text"),
)
BOT_LINES = {
    "deploybot": "Deployed {service}@{sha} to {env}",
    "jira": "{key}-{n} {title} moved to In Review",
    "github": "Pull request #{n} opened in {service}: {title}",
    "pagerduty": "Triggered: high error rate on {service} ({env})",
}
