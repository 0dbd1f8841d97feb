const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `text` is well-formed Unicode: no lone surrogate such as `"x\ud800"`. JSON can carry one,
 * but UTF-8 cannot, so a database or a socket would silently replace it and two different strings
 * would become one.
 */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
