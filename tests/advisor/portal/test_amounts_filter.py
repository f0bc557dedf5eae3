"""The ``amounts`` filter keeps a negative amount on one line and escapes everything else."""

from advisor.templatetags.amounts import amounts


def test_a_negative_amount_is_kept_whole_and_the_rest_escaped():
    line = "<b>long-term \u2212$8,802.45</b>; gains $12.00 & \u2212$3"
    assert amounts(line) == (
        '&lt;b&gt;long-term <span class="nowrap">\u2212$8,802.45</span>&lt;/b&gt;; '
        'gains $12.00 &amp; <span class="nowrap">\u2212$3</span>'
    )
