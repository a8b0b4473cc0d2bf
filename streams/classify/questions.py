"""Does a chat text ask? Sentence by sentence, with the vocabulary's words.

A sentence asks when, after its opening fillers ("so ...", "ok", "hey all,"):
- it ends in a question mark ("?", "?!", "??", "?.."), unless the whole sentence is a backchannel or a tone marker
  ("really?", "is that right?", "seriously? i didnt think ...": only "seriously?" is dropped);
- it opens with a question word followed by an auxiliary or a question follower ("when is", "how many"), or
  with a word that asks on its own ("who sang it", "whats that", "hows it going"); a question word followed by
  anything else opens a clause ("when I was young, ...");
- it opens with an auxiliary and a subject ("do you know", "is the build broken"), with or without a mark;
- it holds a request for help or information ("any ideas on", "pls help with", "looking for someone who").
Set phrases that look like questions ("how shall I say it", "what a day") never ask.

The answer is the name of the signal that decided, or None; the rules turn it into a classification.
"""

from __future__ import annotations

import re

from streams.classify.vocabulary import ChatWords, phrase_pattern

#: Where a chat text splits into sentences: after an end mark and spaces, at line breaks, at " - " dashes.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+|\s[-\u2013\u2014]\s")
_ENDS_WITH_QUESTION_MARK = re.compile(r"\?[?!.…\s]*$")
_TRAILING_MARKS = re.compile(r"[\s?!.…,;:]+$")

SIGNAL_QUESTION_MARK = "question_mark"
SIGNAL_QUESTION_WORD = "question_word"
SIGNAL_YES_NO = "yes_no_opening"
SIGNAL_REQUEST = "help_request"


class QuestionDetector:
    """The vocabulary's question signals, compiled once."""

    def __init__(self, words: ChatWords) -> None:
        fillers = phrase_pattern(words.fillers)
        self._fillers = re.compile(rf"^(?:(?:{fillers})(?![\w'])[\s,.:;!…~-]*)+")
        question_words = phrase_pattern(words.question_words)
        followers = phrase_pattern([*words.auxiliaries, *words.question_followers])
        asking = phrase_pattern(words.asking_words)
        self._question_word = re.compile(
            rf"^(?:(?:{question_words})\s+(?:{followers})(?![\w'])|(?:{asking})(?![\w'])|(?:{question_words})$)"
        )
        auxiliaries = phrase_pattern(set(words.auxiliaries) - set(words.imperative_auxiliaries))
        imperative = phrase_pattern(words.imperative_auxiliaries)
        subjects = phrase_pattern(words.subjects)
        determiners = phrase_pattern(words.determiners)
        self._yes_no = re.compile(
            rf"^(?:(?:{auxiliaries})\s+(?:{subjects}|{determiners})|(?:{imperative})\s+(?:{subjects}))(?![\w'])"
        )
        self._request = re.compile(rf"(?<![\w']){phrase_pattern(words.requests)}(?![\w'])")
        self._backchannel = re.compile(rf"^{phrase_pattern(words.backchannels)}$")
        self._set_phrase = re.compile(rf"^{phrase_pattern(words.not_questions)}(?![\w'])")

    def signal(self, text: str) -> str | None:
        """The first signal by which the text asks, or None. `text` is prose: code, links and mentions removed."""
        if not text:
            return None
        for sentence in _SENTENCE_END.split(text.lower()):
            signal = self.sentence_signal(sentence)
            if signal is not None:
                return signal
        return None

    def sentence_signal(self, sentence: str) -> str | None:
        """Whether one lower-cased sentence asks, and by which signal."""
        opening = self._fillers.sub("", sentence.strip())
        core = _TRAILING_MARKS.sub("", opening)
        if not core or self._set_phrase.match(core):
            return None
        if _ENDS_WITH_QUESTION_MARK.search(opening):
            return None if self._backchannel.match(core) else SIGNAL_QUESTION_MARK
        if self._question_word.match(core):
            return SIGNAL_QUESTION_WORD
        if self._yes_no.match(core):
            return SIGNAL_YES_NO
        if self._request.search(core):
            return SIGNAL_REQUEST
        return None
