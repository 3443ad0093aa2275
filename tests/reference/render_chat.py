"""Chat-template oracle for ptune's native renderers (lib/ptune/data/chat_template.cpp): renders a
real Jinja chat template with python3-jinja2 exactly as transformers' apply_chat_template does
(src/transformers/utils/chat_template_utils.py: _compile_jinja_template / render_jinja_template).

  render_chat.py TEMPLATE.jinja IN.json OUT.txt
  IN: {"messages": [{"role", "content"}...], "add_generation_prompt": bool, "bos_token": str,
       "eos_token": str, optional "date_string" and any other template variables}
  OUT: the rendered text, UTF-8, byte for byte. A raise_exception() in the template exits 3 with
  its message on stderr (ptune must refuse the same conversation).
  Batch form (one process per template for the tests): IN is a JSON list of such objects and
  OUT a JSON list of {"text": ...} or {"error": "the template's message"}, in order.

Same environment as transformers: ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks,
loopcontrols), the raise_exception and strftime_now globals, its tojson filter (no HTML
escaping), and tools=None / documents=None in the render call. The {% generation %} tag of
transformers' AssistantTracker is not installed: none of the fixture templates uses it.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: render_chat.py TEMPLATE.jinja IN.json OUT.txt")
    with open(sys.argv[1], encoding="utf-8", newline="") as f:
        template = f.read()
    with open(sys.argv[2], encoding="utf-8") as f:
        inputs = json.load(f)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    compiled = env.from_string(template)

    if isinstance(inputs, list):
        results = []
        for case in inputs:
            try:
                results.append({"text": render(compiled, dict(case))})
            except jinja2.exceptions.TemplateError as e:
                results.append({"error": str(e)})
        with open(sys.argv[3], "w", encoding="utf-8") as f:
            json.dump(results, f)
        return
    try:
        text = render(compiled, inputs)
    except jinja2.exceptions.TemplateError as e:
        print(f"template error: {e}", file=sys.stderr)
        sys.exit(3)
    with open(sys.argv[3], "w", encoding="utf-8", newline="") as f:
        f.write(text)


def render(compiled, inputs):
    """apply_chat_template's render call: tools and documents are None for plain chat."""
    messages = inputs.pop("messages")
    add_generation_prompt = inputs.pop("add_generation_prompt", False)
    return compiled.render(messages=messages, tools=None, documents=None,
                           add_generation_prompt=add_generation_prompt, **inputs)


if __name__ == "__main__":
    main()
