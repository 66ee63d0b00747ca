// The short text replies: what they say, and that no echoed value can become Slack markup.
import { describe, expect, test } from '@jest/globals';
import { checkSlackLimits } from '../../lib/render/slackBlocks.ts';
import { errorReply, helpReply, startedReply, statusReply } from '../../lib/slack/replies.ts';
import { visibleText } from './support.ts';

describe('replies', () => {
  test('status shows the runtime status and the current step from customStatus', () => {
    const reply = statusReply('snat:rg:aks:most-exhausted', {
      runtimeStatus: 'Running',
      customStatus: {
        step: 'captureNode',
        index: 2,
        of: 5,
        message: 'Capturing connections on node-1\nfor 30 s',
        steps: [],
      },
    });
    expect(reply.text).toBe(
      'Investigation `snat:rg:aks:most-exhausted`: *Running*. Step 2/5: Capturing connections on node-1 for 30 s',
    );
  });

  test('status without a custom status yet', () => {
    expect(statusReply('snat:rg:aks:n1', { runtimeStatus: 'Pending', customStatus: null }).text).toBe(
      'Investigation `snat:rg:aks:n1`: *Pending*.',
    );
  });

  test('an echoed value cannot mention @channel, link or inject markup', () => {
    const reply = startedReply(
      { alias: 'prod', node: '<!channel> <https://evil.example|x> &', seconds: 30 },
      'id',
      false,
    );
    expect(reply.text).toContain('`&lt;!channel&gt; &lt;https://evil.example|x&gt; &amp;`');
    expect(visibleText(errorReply('node "<!channel>" is not valid'))).not.toMatch(/<!/);
  });

  test('a reply stays within Slack’s 3000 characters', () => {
    expect(
      startedReply({ alias: 'prod', node: 'x'.repeat(5000), seconds: 30 }, 'id', false).text.length,
    ).toBeLessThanOrEqual(3000);
  });

  test('joined and started say which happened', () => {
    const target = { alias: 'prod', node: 'n1', seconds: 30 };
    expect(startedReply(target, 'snat:rg:aks:n1', false).text).toContain(
      'Investigating node `n1` of `prod` with a 30 s capture',
    );
    expect(startedReply(target, 'snat:rg:aks:n1', true).text).toContain('already under investigation: you joined it');
  });

  test('help is the renderer’s, plus the clusters this channel can diagnose', () => {
    expect(visibleText(helpReply(['prod', 'staging']))).toContain(
      '`/snat diagnose [cluster] [node-name|node-ip] [--seconds N]`',
    );
    expect(visibleText(helpReply(['prod', 'staging']))).toContain('Clusters for this channel: `prod`, `staging`.');
    expect(visibleText(helpReply([]))).toContain('No cluster can be diagnosed from this channel yet.');
    expect(checkSlackLimits(helpReply(['prod']))).toEqual([]);
  });
});
